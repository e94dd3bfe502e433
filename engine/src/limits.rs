//! Configurable limits. Exceeding one is a clear error naming the limit and
//! the value sent, never a crash or a silently truncated request.

/// The store's limits. [`Limits::default`] gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest encoded request accepted, in bytes (default 4 MiB, gRPC's
    /// usual message limit). Larger: `RESOURCE_EXHAUSTED`.
    pub max_request_bytes: usize,
    /// Most events in one append (default 1,000,000: more than a request of
    /// the default size can hold, since the reference has no event-count
    /// limit and our defaults must accept whatever it accepts). More:
    /// `INVALID_ARGUMENT`.
    pub max_events_per_batch: usize,
    /// Longest id in bytes: tenant, aggregate id and type, event id and type,
    /// correlation, causation, actor, idempotency key, subscription prefix,
    /// and the `payload_sha256` bytes (default 256). Longer: `INVALID_ARGUMENT`.
    pub max_id_length: usize,
    /// Page size of a ReadAll whose `max_count` is 0 (default 100, the
    /// reference's). ReadStream has no count limit: its `max_count` 0 reads
    /// to the end, bounded only by [`Limits::max_response_bytes`].
    pub default_page_size: u32,
    /// Largest page a ReadAll returns; a larger `max_count` is capped
    /// (default 1,000, the reference's).
    pub max_page_size: u32,
    /// Largest encoded read response, in bytes (default 4 MiB): a page that
    /// would grow past it stops early with `is_end = false`. A page always
    /// holds at least one event, so paging always progresses.
    pub max_response_bytes: usize,
    /// Most headers on one event (default 1,000: tracing and routing use a
    /// handful, HTTP servers refuse past about 100, so 1,000 leaves room for
    /// any use a reference user has). More: `INVALID_ARGUMENT`.
    pub max_headers_per_event: usize,
    /// Longest header key in bytes (default 16 KiB, which holds any header
    /// name or structured key in use). Longer: `INVALID_ARGUMENT`.
    pub max_header_key_bytes: usize,
    /// Longest header value in bytes (default 16 KiB: twice what HTTP
    /// servers accept in one header line, room for a JWT or W3C baggage).
    /// Longer: `INVALID_ARGUMENT`.
    pub max_header_value_bytes: usize,
    /// Longest `content_type` in bytes (default 1 KiB: a media type is at
    /// most 255 bytes by RFC 6838, the rest is room for parameters).
    /// Longer: `INVALID_ARGUMENT`.
    pub max_content_type_bytes: usize,
    /// Longest `content_schema` in bytes (default 64 KiB: a schema URI or
    /// registry id, or a small inline schema). Longer: `INVALID_ARGUMENT`.
    pub max_content_schema_bytes: usize,
}

impl Limits {
    /// Default of [`Limits::max_request_bytes`].
    pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
    /// Default of [`Limits::max_events_per_batch`].
    pub const DEFAULT_MAX_EVENTS_PER_BATCH: usize = 1_000_000;
    /// Default of [`Limits::max_id_length`].
    pub const DEFAULT_MAX_ID_LENGTH: usize = 256;
    /// Default of [`Limits::default_page_size`].
    pub const DEFAULT_PAGE_SIZE: u32 = 100;
    /// Default of [`Limits::max_page_size`].
    pub const DEFAULT_MAX_PAGE_SIZE: u32 = 1_000;
    /// Default of [`Limits::max_response_bytes`].
    pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
    /// Default of [`Limits::max_headers_per_event`].
    pub const DEFAULT_MAX_HEADERS_PER_EVENT: usize = 1_000;
    /// Default of [`Limits::max_header_key_bytes`].
    pub const DEFAULT_MAX_HEADER_KEY_BYTES: usize = 16 * 1024;
    /// Default of [`Limits::max_header_value_bytes`].
    pub const DEFAULT_MAX_HEADER_VALUE_BYTES: usize = 16 * 1024;
    /// Default of [`Limits::max_content_type_bytes`].
    pub const DEFAULT_MAX_CONTENT_TYPE_BYTES: usize = 1024;
    /// Default of [`Limits::max_content_schema_bytes`].
    pub const DEFAULT_MAX_CONTENT_SCHEMA_BYTES: usize = 64 * 1024;

    /// Checks that the limits make sense together; the error names the field.
    pub fn validate(&self) -> Result<(), LimitsError> {
        let positive = [
            ("max_request_bytes", self.max_request_bytes),
            ("max_events_per_batch", self.max_events_per_batch),
            ("max_id_length", self.max_id_length),
            ("default_page_size", self.default_page_size as usize),
            ("max_page_size", self.max_page_size as usize),
            ("max_response_bytes", self.max_response_bytes),
            ("max_headers_per_event", self.max_headers_per_event),
            ("max_header_key_bytes", self.max_header_key_bytes),
            ("max_header_value_bytes", self.max_header_value_bytes),
            ("max_content_type_bytes", self.max_content_type_bytes),
            ("max_content_schema_bytes", self.max_content_schema_bytes),
        ];
        if let Some((field, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(LimitsError::Zero { field });
        }
        if self.default_page_size > self.max_page_size {
            return Err(LimitsError::PageSizeAboveMax {
                default_page_size: self.default_page_size,
                max_page_size: self.max_page_size,
            });
        }
        Ok(())
    }

    /// The page size a ReadAll with `max_count` gets.
    pub fn read_all_page_size(&self, max_count: u32) -> usize {
        match max_count {
            0 => self.default_page_size as usize,
            n => n.min(self.max_page_size) as usize,
        }
    }

    /// The page size a ReadStream with `max_count` gets: 0 is no count
    /// limit, any other value is taken as sent (the byte limit still ends a
    /// page early).
    pub fn read_stream_page_size(max_count: u32) -> usize {
        match max_count {
            0 => usize::MAX,
            n => n as usize,
        }
    }
}

/// Limits that do not make sense together. The message names the field
/// (as the `Limits` field; the CLI flags and the Python keyword arguments
/// use the same names).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    /// A limit is 0, which would refuse every request or page.
    #[error("{field} must be at least 1, got 0")]
    Zero {
        /// The `Limits` field.
        field: &'static str,
    },
    /// `default_page_size` is larger than the cap it must respect.
    #[error(
        "default_page_size ({default_page_size}) must not exceed max_page_size ({max_page_size})"
    )]
    PageSizeAboveMax {
        /// The default page size given.
        default_page_size: u32,
        /// The cap given.
        max_page_size: u32,
    },
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_bytes: Self::DEFAULT_MAX_REQUEST_BYTES,
            max_events_per_batch: Self::DEFAULT_MAX_EVENTS_PER_BATCH,
            max_id_length: Self::DEFAULT_MAX_ID_LENGTH,
            default_page_size: Self::DEFAULT_PAGE_SIZE,
            max_page_size: Self::DEFAULT_MAX_PAGE_SIZE,
            max_response_bytes: Self::DEFAULT_MAX_RESPONSE_BYTES,
            max_headers_per_event: Self::DEFAULT_MAX_HEADERS_PER_EVENT,
            max_header_key_bytes: Self::DEFAULT_MAX_HEADER_KEY_BYTES,
            max_header_value_bytes: Self::DEFAULT_MAX_HEADER_VALUE_BYTES,
            max_content_type_bytes: Self::DEFAULT_MAX_CONTENT_TYPE_BYTES,
            max_content_schema_bytes: Self::DEFAULT_MAX_CONTENT_SCHEMA_BYTES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_defaults_and_caps() {
        let l = Limits::default();
        assert_eq!(l.read_all_page_size(0), 100);
        assert_eq!(l.read_all_page_size(7), 7);
        assert_eq!(l.read_all_page_size(5_000), 1_000);
    }

    #[test]
    fn read_stream_has_no_count_limit() {
        assert_eq!(Limits::read_stream_page_size(0), usize::MAX);
        assert_eq!(Limits::read_stream_page_size(5_000), 5_000);
    }

    #[test]
    fn zero_limit_is_rejected_by_name() {
        let l = Limits {
            max_events_per_batch: 0,
            ..Limits::default()
        };
        let error = l.validate().unwrap_err();
        assert_eq!(
            error,
            LimitsError::Zero {
                field: "max_events_per_batch"
            }
        );
        assert_eq!(
            error.to_string(),
            "max_events_per_batch must be at least 1, got 0"
        );
        let l = Limits {
            default_page_size: 50,
            max_page_size: 10,
            ..Limits::default()
        };
        assert!(
            l.validate()
                .unwrap_err()
                .to_string()
                .contains("default_page_size (50)")
        );
    }
}
