//! Finds where a value sits in RON source text (line and column), so that
//! semantic errors found after parsing point at the offending field.

/// One step of a path into a RON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seg<'a> {
    /// A named field of a struct.
    Key(&'a str),
    /// The n-th element of a list or tuple.
    Index(usize),
}

/// 1-based line and column of the value at `path`, or of the deepest part of
/// the path that exists (the closest place a user should look).
pub fn locate(src: &str, path: &[Seg<'_>]) -> (usize, usize) {
    let mut s = Scanner { b: src.as_bytes(), i: 0 };
    s.skip_ws();
    let mut best = s.i;
    let _ = s.find(path, &mut best);
    line_col(src, best)
}

/// 1-based line and column of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        loop {
            match self.peek() {
                Some(c) if c.is_ascii_whitespace() => self.i += 1,
                Some(b'/') if self.b.get(self.i + 1) == Some(&b'/') => {
                    while let Some(c) = self.peek() {
                        if c == b'\n' {
                            break;
                        }
                        self.i += 1;
                    }
                }
                Some(b'/') if self.b.get(self.i + 1) == Some(&b'*') => {
                    self.i += 2;
                    while self.i < self.b.len() && !(self.peek() == Some(b'*') && self.b.get(self.i + 1) == Some(&b'/'))
                    {
                        self.i += 1;
                    }
                    self.i += 2;
                }
                _ => break,
            }
        }
    }

    fn ident(&mut self) -> Option<&str> {
        let start = self.i;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == b'_' {
                self.i += 1;
            } else {
                break;
            }
        }
        if self.i > start { std::str::from_utf8(&self.b[start..self.i]).ok() } else { None }
    }

    /// Skips one value (string, char, number, identifier, bracketed group).
    fn skip_value(&mut self) {
        self.skip_ws();
        match self.peek() {
            Some(b'"') => {
                self.i += 1;
                while let Some(c) = self.peek() {
                    self.i += 1;
                    match c {
                        b'\\' => self.i += 1,
                        b'"' => break,
                        _ => {}
                    }
                }
            }
            Some(b'\'') => {
                self.i += 1;
                while let Some(c) = self.peek() {
                    self.i += 1;
                    match c {
                        b'\\' => self.i += 1,
                        b'\'' => break,
                        _ => {}
                    }
                }
            }
            Some(b'(' | b'[' | b'{') => {
                let mut depth = 0usize;
                while let Some(c) = self.peek() {
                    match c {
                        b'"' | b'\'' => {
                            self.skip_value();
                            continue;
                        }
                        b'(' | b'[' | b'{' => depth += 1,
                        b')' | b']' | b'}' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return;
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            _ => {
                let numeric = self.peek().is_some_and(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.'));
                let had_ident = !numeric && self.ident().is_some();
                if !had_ident {
                    while let Some(c) = self.peek() {
                        if matches!(c, b',' | b')' | b']' | b'}') || c.is_ascii_whitespace() {
                            break;
                        }
                        self.i += 1;
                    }
                }
                self.skip_ws();
                if had_ident && self.peek() == Some(b'(') {
                    self.skip_value();
                }
            }
        }
    }

    /// Walks `path` from the value at the cursor; records in `best` the start
    /// of the deepest value reached. Returns true when the whole path exists.
    fn find(&mut self, path: &[Seg<'_>], best: &mut usize) -> bool {
        self.skip_ws();
        *best = self.i;
        let Some(seg) = path.first() else { return true };
        // A struct or variant name before its parenthesis: `Scene(`, `Some(`.
        let save = self.i;
        if self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            let _ = self.ident();
            self.skip_ws();
            if self.peek() != Some(b'(') {
                self.i = save;
                return false;
            }
        }
        let Some(open) = self.peek() else { return false };
        if !matches!(open, b'(' | b'[') {
            return false;
        }
        self.i += 1;
        let mut index = 0usize;
        loop {
            self.skip_ws();
            match self.peek() {
                None | Some(b')' | b']') => return false,
                Some(b',') => {
                    self.i += 1;
                    continue;
                }
                _ => {}
            }
            match *seg {
                Seg::Key(key) => {
                    let entry = self.i;
                    let name = self.ident().map(str::to_owned);
                    self.skip_ws();
                    if name.is_some() && self.peek() == Some(b':') {
                        self.i += 1;
                        if name.as_deref() == Some(key) {
                            *best = entry;
                            return self.find(&path[1..], best);
                        }
                        self.skip_value();
                    } else {
                        // Not a struct: `Some(x)` and friends are transparent.
                        self.i = entry;
                        return self.find(path, best);
                    }
                }
                Seg::Index(n) => {
                    if index == n {
                        return self.find(&path[1..], best);
                    }
                    self.skip_value();
                    index += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "// a scene\n(\n  name: \"x\",\n  teams: [\n    (name: \"a\", agents: 3),\n    (name: \"b\", start: [(1, 2), (3, 4)]),\n  ],\n  hyper: Some((alpha: 0.5, gamma: -1.5e3)),\n)\n";

    #[test]
    fn finds_keys_and_indices() {
        assert_eq!(locate(SRC, &[Seg::Key("name")]), (3, 9));
        assert_eq!(locate(SRC, &[Seg::Key("teams"), Seg::Index(0), Seg::Key("agents")]), (5, 25));
        assert_eq!(locate(SRC, &[Seg::Key("teams"), Seg::Index(1), Seg::Key("start"), Seg::Index(1)]), (6, 33));
        assert_eq!(locate(SRC, &[Seg::Key("hyper"), Seg::Key("alpha")]), (8, 23));
        assert_eq!(locate(SRC, &[Seg::Key("hyper"), Seg::Key("gamma")]), (8, 35));
    }

    #[test]
    fn missing_paths_fall_back_to_the_deepest_part_found() {
        assert_eq!(locate(SRC, &[Seg::Key("teams"), Seg::Index(0), Seg::Key("nope")]), (5, 5));
        assert_eq!(locate(SRC, &[Seg::Key("absent")]), (2, 1));
    }
}
