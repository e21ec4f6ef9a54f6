/// One stream's output: kept in full up to a cap, decoded as UTF-8 (lossily) at the end.
#[derive(Debug, Default)]
pub struct OutputBuffer {
    bytes: Vec<u8>,
    cap: usize,
    overflowed: bool,
}

impl OutputBuffer {
    pub fn new(cap: usize) -> Self {
        OutputBuffer {
            bytes: Vec::new(),
            cap,
            overflowed: false,
        }
    }

    /// Appends a chunk; returns false once the stream went over its cap (the excess is dropped).
    pub fn push(&mut self, chunk: &[u8]) -> bool {
        let room = self.cap.saturating_sub(self.bytes.len());
        if chunk.len() > room {
            self.bytes.extend_from_slice(&chunk[..room]);
            self.overflowed = true;
        } else {
            self.bytes.extend_from_slice(chunk);
        }
        !self.overflowed
    }

    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// The text returned inline: at most `limit` bytes (cut on a char boundary), and whether
    /// anything was left out.
    pub fn inline(&self, limit: usize) -> (String, bool) {
        let text = String::from_utf8_lossy(&self.bytes);
        if text.len() <= limit && !self.overflowed {
            return (text.into_owned(), false);
        }
        let mut end = limit.min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        (text[..end].to_string(), true)
    }

    pub fn full_text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_and_flags_overflow() {
        let mut b = OutputBuffer::new(4);
        assert!(b.push(b"ab"));
        assert!(!b.push(b"cdef"));
        assert_eq!(b.full_text(), "abcd");
        assert_eq!(b.inline(10), ("abcd".to_string(), true));
    }

    #[test]
    fn inline_cuts_on_char_boundary() {
        let mut b = OutputBuffer::new(100);
        b.push("한글".as_bytes());
        assert_eq!(b.inline(4), ("한".to_string(), true));
        assert_eq!(b.inline(6), ("한글".to_string(), false));
    }
}
