//! Rows of a recipient file, read as its bytes arrive (docs/api.md, "Recipient files").
//!
//! The file is never held whole: [`RowReader::feed`] takes each chunk as it comes off the
//! network and hands complete records to the caller, keeping only the record in progress.
//! Parsing is `csv-core`'s (RFC 4180: quoted fields may hold commas, quotes and newlines; a
//! UTF-8 byte-order mark is skipped; blank lines are not records). A record that is not UTF-8
//! or is longer than [`MAX_RECORD_BYTES`] becomes a row of its own kind rather than an error,
//! so one bad line costs one reject, and garbage without a newline costs bounded memory.

use std::ops::ControlFlow;

use csv_core::{ReadRecordResult, Reader};

/// Longest record kept, in bytes; a longer one is reported as [`RowContent::TooLong`].
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// Most fields a record may have; more is reported as [`RowContent::TooLong`] too.
pub const MAX_FIELDS: usize = 1024;

/// UTF-8's byte-order mark, which spreadsheet programs put before a CSV they export.
const BOM: &[u8] = b"\xef\xbb\xbf";

/// How a file lays out its recipients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// A header row naming the columns, then one recipient per row.
    Csv,
    /// One number per line, no header: a CSV of one unnamed column.
    Lines,
}

/// One record of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row<'a> {
    /// The record's number as a spreadsheet shows it: the header (if any) is row 1.
    pub number: u64,
    pub content: RowContent<'a>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowContent<'a> {
    Fields(Fields<'a>),
    NotUtf8,
    TooLong,
}

/// The fields of one record, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields<'a> {
    text: &'a str,
    ends: &'a [usize],
}

impl<'a> Fields<'a> {
    /// Field `i`, or None past the record's end.
    pub fn get(&self, i: usize) -> Option<&'a str> {
        let end = *self.ends.get(i)?;
        let start = match i {
            0 => 0,
            _ => self.ends[i - 1],
        };
        self.text.get(start..end)
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a str> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

/// Why a file's header cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("the file is empty")]
    Empty,
    #[error("the header row is not UTF-8 text; is this a CSV file?")]
    NotUtf8,
    #[error("the header row is longer than {MAX_RECORD_BYTES} bytes; is this a CSV file?")]
    TooLong,
}

/// A CSV file's header: its column names (trimmed) and the offset where its first data row
/// starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub names: Vec<String>,
    pub end: u64,
}

/// Bytes that always hold a usable header: the longest record and its line end.
pub const HEADER_PREFIX_BYTES: u64 = MAX_RECORD_BYTES as u64 + 2;

/// Reads the header from the start of a CSV file: `prefix` is its first
/// [`HEADER_PREFIX_BYTES`] bytes, or the whole file (`whole` true) if it is shorter.
pub fn read_header(prefix: &[u8], whole: bool) -> Result<Header, HeaderError> {
    let mut reader = RowReader::new(FileFormat::Csv);
    reader.feed(prefix, &mut |_| {});
    if reader.header.is_none() && whole {
        reader.finish(&mut |_| {});
    }
    match reader.header {
        Some(Ok(names)) => Ok(Header {
            names,
            end: reader.record_end_after_header,
        }),
        Some(Err(e)) => Err(e),
        None => Err(HeaderError::TooLong),
    }
}

/// Reads records from chunks of a file. For [`FileFormat::Csv`] the first record is the
/// header: kept (see [`RowReader::header`]), not handed out as a row.
#[derive(Debug)]
pub struct RowReader {
    format: FileFormat,
    parser: Reader,
    record: Vec<u8>,
    ends: Vec<usize>,
    /// Bytes of `record` and fields of `ends` written so far for the record in progress.
    out_len: usize,
    ends_len: usize,
    oversized: bool,
    header: Option<Result<Vec<String>, HeaderError>>,
    /// Number of the last record read (the header counts).
    records: u64,
    /// Bytes consumed, and the offset just after the last complete record.
    consumed: u64,
    record_end: u64,
    /// Where the header record ended (CSV), so [`read_header`] can say where rows start.
    record_end_after_header: u64,
}

impl RowReader {
    pub fn new(format: FileFormat) -> Self {
        Self::starting_at(format, None, 0, 0)
    }

    /// A reader that starts at byte `offset` of the file, just after record number
    /// `records`, with the header already known: a planner resuming from a checkpoint.
    pub fn resume(format: FileFormat, header: Vec<String>, records: u64, offset: u64) -> Self {
        let header = (format == FileFormat::Csv).then_some(Ok(header));
        Self::starting_at(format, header, records, offset)
    }

    fn starting_at(
        format: FileFormat,
        header: Option<Result<Vec<String>, HeaderError>>,
        records: u64,
        offset: u64,
    ) -> Self {
        Self {
            format,
            parser: Reader::new(),
            record: vec![0; 1024],
            ends: vec![0; 16],
            out_len: 0,
            ends_len: 0,
            oversized: false,
            header,
            records,
            consumed: offset,
            record_end: offset,
            record_end_after_header: offset,
        }
    }

    /// The header's column names, once its record has been read (always None for
    /// [`FileFormat::Lines`]).
    pub fn header(&self) -> Option<&Result<Vec<String>, HeaderError>> {
        self.header.as_ref()
    }

    /// The byte offset just after the last complete record: where a later reader resumes.
    pub fn offset(&self) -> u64 {
        self.record_end
    }

    /// Records read so far, the header included.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Parses `chunk`, calling `on_row` for every record it completes.
    pub fn feed(&mut self, chunk: &[u8], on_row: &mut impl FnMut(Row<'_>)) {
        self.feed_until(chunk, &mut |row| {
            on_row(row);
            ControlFlow::Continue(())
        });
    }

    /// As [`RowReader::feed`], but stops after a record for which `on_row` breaks, and
    /// returns how many bytes of `chunk` that record ended at ([`RowReader::offset`] is then
    /// just after it); None when the whole chunk was read.
    pub fn feed_until(
        &mut self,
        chunk: &[u8],
        on_row: &mut impl FnMut(Row<'_>) -> ControlFlow<()>,
    ) -> Option<usize> {
        let mut input = chunk;
        loop {
            let (result, nin) = self.step(input);
            input = &input[nin..];
            match result {
                ReadRecordResult::InputEmpty | ReadRecordResult::End => return None,
                ReadRecordResult::Record => {
                    if self.emit(on_row).is_break() {
                        return Some(chunk.len() - input.len());
                    }
                }
                ReadRecordResult::OutputFull | ReadRecordResult::OutputEndsFull => {}
            }
        }
    }

    /// Ends the file: the last record may lack its line end.
    pub fn finish(&mut self, on_row: &mut impl FnMut(Row<'_>)) {
        loop {
            match self.step(&[]).0 {
                ReadRecordResult::Record => {
                    let _ = self.emit(&mut |row| {
                        on_row(row);
                        ControlFlow::Continue(())
                    });
                }
                ReadRecordResult::End | ReadRecordResult::InputEmpty => break,
                ReadRecordResult::OutputFull | ReadRecordResult::OutputEndsFull => {}
            }
        }
        if self.format == FileFormat::Csv && self.header.is_none() {
            self.header = Some(Err(HeaderError::Empty));
        }
    }

    /// One call into the parser, growing (or, past the limits, recycling) its buffers.
    fn step(&mut self, input: &[u8]) -> (ReadRecordResult, usize) {
        let (result, nin, nout, nends) = self.parser.read_record(
            input,
            &mut self.record[self.out_len..],
            &mut self.ends[self.ends_len..],
        );
        // csv-core writes into the tail of `record` but gives field ends from the record's
        // start (it counts what it wrote in earlier calls), so they need no adjustment.
        self.out_len += nout;
        self.ends_len += nends;
        self.consumed += nin as u64;
        match result {
            ReadRecordResult::OutputFull => {
                if self.record.len() >= MAX_RECORD_BYTES {
                    // Keep reading the record to find its end, writing over what we have.
                    self.oversized = true;
                    self.out_len = 0;
                    self.ends_len = 0;
                } else {
                    let grown = (self.record.len() * 2).min(MAX_RECORD_BYTES);
                    self.record.resize(grown, 0);
                }
            }
            ReadRecordResult::OutputEndsFull => {
                if self.ends.len() >= MAX_FIELDS {
                    self.oversized = true;
                    self.out_len = 0;
                    self.ends_len = 0;
                } else {
                    let grown = (self.ends.len() * 2).min(MAX_FIELDS);
                    self.ends.resize(grown, 0);
                }
            }
            _ => {}
        }
        (result, nin)
    }

    fn emit(&mut self, on_row: &mut impl FnMut(Row<'_>) -> ControlFlow<()>) -> ControlFlow<()> {
        // csv-core skips a byte-order mark only when its first call sees all three bytes.
        if self.record_end == 0 && !self.oversized && self.record[..self.out_len].starts_with(BOM) {
            self.record.copy_within(BOM.len()..self.out_len, 0);
            self.out_len -= BOM.len();
            for end in &mut self.ends[..self.ends_len] {
                *end = end.saturating_sub(BOM.len());
            }
        }
        self.records += 1;
        self.record_end = self.consumed;
        let bytes = &self.record[..self.out_len];
        let content = match (self.oversized, std::str::from_utf8(bytes)) {
            (true, _) => RowContent::TooLong,
            (false, Err(_)) => RowContent::NotUtf8,
            (false, Ok(text)) => RowContent::Fields(Fields {
                text,
                ends: &self.ends[..self.ends_len],
            }),
        };
        let row = Row {
            number: self.records,
            content,
        };
        let flow = if self.format == FileFormat::Csv && self.header.is_none() {
            self.record_end_after_header = self.record_end;
            self.header = Some(match row.content {
                RowContent::Fields(fields) => {
                    Ok(fields.iter().map(|f| f.trim().to_owned()).collect())
                }
                RowContent::NotUtf8 => Err(HeaderError::NotUtf8),
                RowContent::TooLong => Err(HeaderError::TooLong),
            });
            ControlFlow::Continue(())
        } else {
            on_row(row)
        };
        self.out_len = 0;
        self.ends_len = 0;
        self.oversized = false;
        flow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Eq)]
    enum Seen {
        Fields(u64, Vec<String>),
        NotUtf8(u64),
        TooLong(u64),
    }

    fn read_in_chunks(format: FileFormat, file: &[u8], chunk: usize) -> (RowReader, Vec<Seen>) {
        let mut reader = RowReader::new(format);
        let mut seen = Vec::new();
        let mut on_row = |row: Row<'_>| {
            seen.push(match row.content {
                RowContent::Fields(f) => {
                    Seen::Fields(row.number, f.iter().map(str::to_owned).collect())
                }
                RowContent::NotUtf8 => Seen::NotUtf8(row.number),
                RowContent::TooLong => Seen::TooLong(row.number),
            })
        };
        for part in file.chunks(chunk.max(1)) {
            reader.feed(part, &mut on_row);
        }
        reader.finish(&mut on_row);
        (reader, seen)
    }

    fn fields(number: u64, values: &[&str]) -> Seen {
        Seen::Fields(number, values.iter().map(|v| (*v).to_owned()).collect())
    }

    #[test]
    fn rows_are_the_same_whatever_the_chunking() {
        let file = "\u{feff}phone, first_name\r\n+14155550100,Ana\n\n\"+1 415 555 0101\",\"Bo, \"\"the\"\" \nsecond\"\n+14155550102,Cé";
        let expected = vec![
            fields(2, &["+14155550100", "Ana"]),
            fields(3, &["+1 415 555 0101", "Bo, \"the\" \nsecond"]),
            fields(4, &["+14155550102", "Cé"]),
        ];
        for chunk in [1, 2, 3, 7, 64, 4096] {
            let (reader, seen) = read_in_chunks(FileFormat::Csv, file.as_bytes(), chunk);
            assert_eq!(seen, expected, "chunks of {chunk}");
            assert_eq!(
                reader.header(),
                Some(&Ok(vec!["phone".to_owned(), "first_name".to_owned()])),
                "the BOM is dropped and names trimmed"
            );
            assert_eq!(reader.records(), 4);
            assert_eq!(reader.offset(), file.len() as u64);
        }
    }

    #[test]
    fn reading_can_stop_after_any_record_and_resume_there() {
        let file = b"+14155550100\n+14155550101\n+14155550102\n";
        let mut reader = RowReader::new(FileFormat::Lines);
        let mut seen = 0;
        let stopped = reader.feed_until(file, &mut |_| {
            seen += 1;
            if seen == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        assert_eq!(stopped, Some(26));
        assert_eq!((reader.offset(), reader.records()), (26, 2));
        let mut rest = Vec::new();
        let mut resumed = RowReader::resume(FileFormat::Lines, Vec::new(), 2, 26);
        resumed.feed(&file[26..], &mut |row| {
            if let RowContent::Fields(f) = row.content {
                rest.push((row.number, f.get(0).map(str::to_owned)));
            }
        });
        assert_eq!(rest, [(3, Some("+14155550102".to_owned()))]);
    }

    #[test]
    fn lines_have_no_header() {
        let (reader, seen) = read_in_chunks(FileFormat::Lines, b"+14155550100\n+14155550101\n", 5);
        assert_eq!(
            seen,
            vec![fields(1, &["+14155550100"]), fields(2, &["+14155550101"])]
        );
        assert_eq!(reader.header(), None);
    }

    #[test]
    fn bad_records_are_rows_of_their_own_kind() {
        let mut file = b"phone\n+14155550100\n\xff\xfe\n".to_vec();
        file.extend(std::iter::repeat_n(b'9', MAX_RECORD_BYTES + 10));
        file.extend(b"\n+14155550101\n");
        file.extend(std::iter::repeat_n(b',', MAX_FIELDS + 1));
        file.extend(b"\n+14155550102\n");
        let (_, seen) = read_in_chunks(FileFormat::Csv, &file, 1000);
        assert_eq!(
            seen,
            vec![
                fields(2, &["+14155550100"]),
                Seen::NotUtf8(3),
                Seen::TooLong(4),
                fields(5, &["+14155550101"]),
                Seen::TooLong(6),
                fields(7, &["+14155550102"]),
            ]
        );
    }

    #[test]
    fn a_header_that_cannot_be_used_is_named() {
        assert_eq!(
            read_in_chunks(FileFormat::Csv, b"", 10).0.header(),
            Some(&Err(HeaderError::Empty))
        );
        assert_eq!(
            read_in_chunks(FileFormat::Csv, b"\n\n", 10).0.header(),
            Some(&Err(HeaderError::Empty))
        );
        assert_eq!(
            read_in_chunks(FileFormat::Csv, b"\x00\xff\x01\n", 10)
                .0
                .header(),
            Some(&Err(HeaderError::NotUtf8))
        );
        let garbage = vec![b'x'; MAX_RECORD_BYTES * 3];
        assert_eq!(
            read_in_chunks(FileFormat::Csv, &garbage, 4096).0.header(),
            Some(&Err(HeaderError::TooLong))
        );
    }

    #[test]
    fn the_header_is_read_from_the_files_first_bytes() {
        let file = b"phone,name\r\n+14155550100,Ana\n";
        assert_eq!(
            read_header(file, true),
            Ok(Header {
                names: vec!["phone".into(), "name".into()],
                // The record ends at its '\r'; the '\n' left over is a blank line to a
                // reader that starts there, and blank lines are not records.
                end: 11
            })
        );
        assert_eq!(
            read_header(b"phone,name", true).map(|h| h.end),
            Ok(10),
            "a header alone"
        );
        assert_eq!(
            read_header(b"phone,name", false),
            Err(HeaderError::TooLong),
            "not whole: it may go on"
        );
        assert_eq!(read_header(b"", true), Err(HeaderError::Empty));
        assert_eq!(
            read_header(b"\x89PNG\r\n\x1a\n\x00\x00", true),
            Err(HeaderError::NotUtf8)
        );
    }

    #[test]
    fn a_reader_resumed_at_an_offset_reads_the_rest_alike() {
        let file = b"phone,name\n+14155550100,Ana\n+14155550101,Bo\n+14155550102,Cy\n";
        let mut first = RowReader::new(FileFormat::Csv);
        let mut rows = Vec::new();
        first.feed(&file[..30], &mut |row: Row<'_>| rows.push(row.number));
        assert_eq!(rows, [2]);
        let (offset, records) = (first.offset(), first.records());
        assert_eq!(&file[..offset as usize], b"phone,name\n+14155550100,Ana\n");

        let header = vec!["phone".to_owned(), "name".to_owned()];
        let mut resumed = RowReader::resume(FileFormat::Csv, header, records, offset);
        let mut seen = Vec::new();
        let mut on_row = |row: Row<'_>| {
            if let RowContent::Fields(f) = row.content {
                seen.push((row.number, f.get(1).map(str::to_owned)));
            }
        };
        resumed.feed(&file[offset as usize..], &mut on_row);
        resumed.finish(&mut on_row);
        assert_eq!(seen, [(3, Some("Bo".into())), (4, Some("Cy".into()))]);
        assert_eq!(resumed.offset(), file.len() as u64);
    }
}
