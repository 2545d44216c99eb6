//! The wire codec of every poolkeeper service: prost, except that bytes which are not a
//! valid message are the caller's mistake.
//!
//! tonic's stock prost codec answers a request it cannot decode (a truncated varint, a
//! string field that is not UTF-8) with INTERNAL, which in gRPC's status model means a
//! fault of the server. Here such a request is INVALID_ARGUMENT with a `google.rpc.ErrorInfo`
//! (`reason: malformed_message`), and the handler never runs, so nothing is appended.

use std::collections::HashMap;
use std::marker::PhantomData;

use prost::Message;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic::{Code, Status};
use tonic_prost::ProstEncoder;
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of every error the service returns.
pub const ERROR_DOMAIN: &str = "poolkeeper.v1";

/// The `ErrorInfo.reason` of a request whose bytes are not a valid message.
pub const MALFORMED_MESSAGE: &str = "malformed_message";

/// prost encoding; undecodable bytes are INVALID_ARGUMENT.
#[derive(Debug, Clone)]
pub struct StrictProstCodec<T, U> {
    _types: PhantomData<(T, U)>,
}

impl<T, U> Default for StrictProstCodec<T, U> {
    fn default() -> Self {
        Self {
            _types: PhantomData,
        }
    }
}

impl<T, U> Codec for StrictProstCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = StrictDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        StrictDecoder {
            _message: PhantomData,
        }
    }
}

/// Decodes `U`, refusing malformed bytes as INVALID_ARGUMENT.
#[derive(Debug, Clone)]
pub struct StrictDecoder<U> {
    _message: PhantomData<U>,
}

impl<U: Message + Default> Decoder for StrictDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        U::decode(buf).map(Some).map_err(|error| malformed(&error))
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}

/// The status of a message that could not be decoded.
pub fn malformed(error: &prost::DecodeError) -> Status {
    let mut details = ErrorDetails::new();
    details.set_error_info(MALFORMED_MESSAGE, ERROR_DOMAIN, HashMap::new());
    Status::with_error_details(
        Code::InvalidArgument,
        format!("the request is not a valid protobuf message of its type: {error}"),
        details,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undecodable_bytes_are_invalid_argument_with_error_info() {
        // Field 1 (string) with a length prefix longer than the bytes that follow.
        let truncated: &[u8] = &[0x0a, 0x10, b'a'];
        let error = prost_types::Timestamp::decode(truncated).unwrap_err();
        let status = malformed(&error);
        assert_eq!(status.code(), Code::InvalidArgument);
        let info = status.get_details_error_info().expect("error info");
        assert_eq!(info.reason, MALFORMED_MESSAGE);
        assert_eq!(info.domain, ERROR_DOMAIN);
    }
}
