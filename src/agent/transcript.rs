//! One turn's transcript, capped: an agent that prints 200 MB gives a file of at most the cap.
//!
//! The first half of the cap is written as it arrives; after that the output goes round a
//! ring the size of the second half, inside the file itself, so memory stays at one copy
//! buffer whatever the agent prints. When the turn ends the ring is put back in order behind
//! one line that says how many bytes were cut. A turn that stays under the cap is written
//! exactly as it came. Earlier turns of the same cycle, already in the file, are left alone.
//!
//! A process killed before `CappedFile::finish` leaves the turn's head and its ring unsorted
//! (still within the cap). It never prints.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::FileExt;

/// The default cap of one turn's transcript (head and tail together).
pub const DEFAULT_MAX: u64 = 16 << 20;
/// The smallest cap accepted: room for a useful head and tail.
pub const MIN_MAX: u64 = 64 << 10;
/// The largest cap accepted.
pub const MAX_MAX: u64 = 1 << 30;

/// Bytes moved at a time when the ring is put in order.
const COPY_CHUNK: u64 = 64 << 10;

/// A transcript file being written by one turn.
#[derive(Debug)]
pub(crate) struct CappedFile {
    file: File,
    /// Where this turn's output starts in the file.
    start: u64,
    /// Bytes kept from the start of the turn's output.
    head: u64,
    /// Bytes kept from its end (the ring's size).
    tail: u64,
    /// Bytes the turn printed so far.
    received: u64,
}

impl CappedFile {
    /// Starts a turn's output at the end of `file` (opened for reading and writing, not in
    /// append mode: the ring writes at offsets). `max` is split evenly between head and tail.
    pub fn new(mut file: File, max: u64) -> io::Result<CappedFile> {
        let start = file.seek(SeekFrom::End(0))?;
        let max = max.max(2);
        Ok(CappedFile {
            file,
            start,
            head: max / 2,
            tail: max - max / 2,
            received: 0,
        })
    }

    pub fn write(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        if self.received < self.head {
            let n = usize::try_from((self.head - self.received).min(len(bytes)))
                .expect("bounded by the slice length");
            self.file
                .write_all_at(&bytes[..n], self.start + self.received)?;
            self.received += len(&bytes[..n]);
            bytes = &bytes[n..];
        }
        // Past the head only the last `tail` bytes can survive.
        if len(bytes) > self.tail {
            let skip = usize::try_from(len(bytes) - self.tail).expect("bounded by the slice");
            self.received += len(&bytes[..skip]);
            bytes = &bytes[skip..];
        }
        while !bytes.is_empty() {
            let at = (self.received - self.head) % self.tail;
            let n = usize::try_from((self.tail - at).min(len(bytes))).expect("bounded");
            self.file
                .write_all_at(&bytes[..n], self.start + self.head + at)?;
            self.received += len(&bytes[..n]);
            bytes = &bytes[n..];
        }
        Ok(())
    }

    /// Ends the turn: when output was cut, the ring goes back in order behind a line saying
    /// how much was cut. Returns the number of bytes cut.
    pub fn finish(self) -> io::Result<u64> {
        let kept = self.head + self.tail;
        if self.received <= kept {
            return Ok(0);
        }
        let cut = self.received - kept;
        let ring = self.start + self.head;
        let end = ring + self.tail;
        // The ring's oldest byte: where the next write would have gone.
        let oldest = (self.received - self.head) % self.tail;
        let marker = format!(
            "\n[git oompa: {cut} bytes of this turn's output were cut here; the transcript \
             keeps its first {} and last {} bytes (transcript_max)]\n",
            self.head, self.tail
        );
        // Behind the ring: the marker, then the ring from its oldest byte on, then the rest.
        self.file.write_all_at(marker.as_bytes(), end)?;
        let mut at = end + len(marker.as_bytes());
        at = copy(&self.file, ring + oldest..end, at)?;
        at = copy(&self.file, ring..ring + oldest, at)?;
        // Then all of that down over the ring, and the file ends there.
        copy(&self.file, end..at, ring)?;
        self.file.set_len(ring + (at - end))?;
        Ok(cut)
    }
}

/// Copies `from` to `to` within `file`, in chunks no larger than the distance between them,
/// so a copy towards the start of the file never reads what it already overwrote. Returns the
/// end of what was written.
fn copy(file: &File, from: std::ops::Range<u64>, to: u64) -> io::Result<u64> {
    let gap = from.start.abs_diff(to).max(1);
    let mut buf = vec![0u8; usize::try_from(COPY_CHUNK.min(gap)).expect("at most 64 KiB")];
    let mut done = 0;
    let total = from.end - from.start;
    while done < total {
        let n = usize::try_from((total - done).min(len(&buf))).expect("at most the buffer");
        file.read_exact_at(&mut buf[..n], from.start + done)?;
        file.write_all_at(&buf[..n], to + done)?;
        done += len(&buf[..n]);
    }
    Ok(to + total)
}

fn len(bytes: &[u8]) -> u64 {
    u64::try_from(bytes.len()).expect("slice lengths fit in u64")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `chunks` through a cap of `max` after `before` (an earlier turn), returns the
    /// file's text and the bytes cut.
    fn capped(before: &str, chunks: &[&[u8]], max: u64) -> (String, u64) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.log");
        std::fs::write(&path, before).expect("write");
        let file = std::fs::OpenOptions::new()
            .write(true)
            .read(true)
            .open(&path)
            .expect("open");
        let mut t = CappedFile::new(file, max).expect("new");
        for c in chunks {
            t.write(c).expect("write");
        }
        let cut = t.finish().expect("finish");
        (std::fs::read_to_string(&path).expect("read"), cut)
    }

    #[test]
    fn output_under_the_cap_is_kept_as_it_came() {
        let (text, cut) = capped("earlier\n", &[b"hello ", b"world\n"], 100);
        assert_eq!((text.as_str(), cut), ("earlier\nhello world\n", 0));
        let (text, cut) = capped("", &[b"0123456789"], 10);
        assert_eq!((text.as_str(), cut), ("0123456789", 0));
    }

    #[test]
    fn output_over_the_cap_keeps_head_and_tail_and_says_what_was_cut() {
        let data: Vec<u8> = (0..1000u32)
            .map(|i| b'a' + u8::try_from(i % 26).expect("small"))
            .collect();
        // Every chunking gives the same file: one write, small writes, writes wrapping the ring.
        for size in [1000, 1, 7, 33, 500] {
            let chunks: Vec<&[u8]> = data.chunks(size).collect();
            let (text, cut) = capped("earlier turn\n", &chunks, 100);
            assert_eq!(cut, 900, "chunks of {size}");
            let head = std::str::from_utf8(&data[..50]).expect("ascii");
            let tail = std::str::from_utf8(&data[950..]).expect("ascii");
            let rest = text
                .strip_prefix("earlier turn\n")
                .expect("earlier turn kept");
            assert!(rest.starts_with(head), "chunks of {size}: {rest}");
            assert!(rest.ends_with(tail), "chunks of {size}: {rest}");
            assert!(
                rest.contains("\n[git oompa: 900 bytes of this turn's output were cut here"),
                "{rest}"
            );
            assert_eq!(
                rest.len(),
                100 + rest.lines().nth(1).map_or(0, str::len) + 2
            );
        }
    }

    #[test]
    fn a_cap_smaller_than_a_copy_chunk_and_one_larger_both_sort_the_ring() {
        let data: Vec<u8> = (0..300_000u32)
            .map(|i| b'0' + u8::try_from(i % 10).expect("small"))
            .collect();
        let (text, cut) = capped("", &[&data[..123_457], &data[123_457..]], 200_000);
        assert_eq!(cut, 100_000);
        assert!(text.as_bytes().starts_with(&data[..100_000]));
        assert!(text.as_bytes().ends_with(&data[200_000..]));
    }
}
