//! The statuses tonic itself answers with, before any handler runs, made to follow the
//! service's error model.
//!
//! tonic refuses some requests on its own: an unknown method (UNIMPLEMENTED), a message
//! over the size limit (OUT_OF_RANGE), a unary call without a message or a frame cut
//! short (INTERNAL). Those answers carry no `ErrorInfo`, and the last ones blame the
//! server for the client's bytes. This layer sees every trailers-only answer (how a
//! refusal before the handler is sent) and, when it has no error details, gives it an
//! `ErrorInfo`; the client-side protocol faults become INVALID_ARGUMENT. Statuses built
//! by the service already carry details and pass untouched.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tower_layer::Layer;
use tower_service::Service;

use crate::status::ERROR_DOMAIN;

/// The layer; see the module docs.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProtocolErrors;

impl<S> Layer<S> for ProtocolErrors {
    type Service = ProtocolErrorsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ProtocolErrorsService { inner }
    }
}

/// The service the layer wraps around the router.
#[derive(Clone, Debug)]
pub struct ProtocolErrorsService<S> {
    inner: S,
}

impl<S, Request, Body> Service<Request> for ProtocolErrorsService<S>
where
    S: Service<Request, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let answer = self.inner.call(request);
        Box::pin(async move {
            let mut response = answer.await?;
            explain(response.headers_mut());
            Ok(response)
        })
    }
}

/// Adds an `ErrorInfo` to a trailers-only refusal that has none.
fn explain(headers: &mut http::HeaderMap) {
    if headers.contains_key("grpc-status-details-bin") {
        return;
    }
    let Some(status) = Status::from_header_map(headers) else {
        return;
    };
    if status.code() == Code::Ok {
        return;
    }
    let explained = classify(&status);
    let _ = explained.add_header(headers);
}

/// tonic's own refusal as the service would have phrased it.
fn classify(status: &Status) -> Status {
    let message = status.message();
    let (code, reason) = match status.code() {
        Code::Internal if is_client_protocol_fault(message) => {
            (Code::InvalidArgument, "malformed_request")
        }
        Code::OutOfRange | Code::ResourceExhausted if message.contains("too large") => {
            (Code::ResourceExhausted, "message_too_large")
        }
        Code::Unimplemented => (Code::Unimplemented, "unknown_method"),
        Code::Internal => (Code::Internal, "internal"),
        other => (other, "protocol_error"),
    };
    let mut details = ErrorDetails::new();
    details.set_error_info(reason, ERROR_DOMAIN, HashMap::new());
    let message = if message.is_empty() {
        reason.to_owned()
    } else {
        message.to_owned()
    };
    Status::with_error_details(code, message, details)
}

/// The INTERNALs tonic raises for bytes the client sent: no message in a unary call, a
/// frame cut short, a bad compression flag.
fn is_client_protocol_fault(message: &str) -> bool {
    message.starts_with("Missing request message")
        || message.starts_with("Unexpected EOF decoding stream")
        || message.starts_with("protocol error")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(status: Status) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        status.add_header(&mut headers).unwrap();
        explain(&mut headers);
        headers
    }

    #[test]
    fn tonics_own_refusals_get_error_info_and_client_faults_are_invalid_argument() {
        let cases = [
            (
                Status::unimplemented(""),
                Code::Unimplemented,
                "unknown_method",
            ),
            (
                Status::internal("Missing request message."),
                Code::InvalidArgument,
                "malformed_request",
            ),
            (
                Status::out_of_range("Error, decoded message length too large: found 9 bytes"),
                Code::ResourceExhausted,
                "message_too_large",
            ),
        ];
        for (status, code, reason) in cases {
            let answered = Status::from_header_map(&refusal(status)).unwrap();
            assert_eq!(answered.code(), code);
            assert_eq!(answered.get_details_error_info().unwrap().reason, reason);
        }
    }

    #[test]
    fn statuses_with_details_pass_untouched() {
        let ours = crate::status::internal("the event log failed");
        let answered = Status::from_header_map(&refusal(ours)).unwrap();
        assert_eq!(answered.code(), Code::Internal);
        assert_eq!(
            answered.get_details_error_info().unwrap().reason,
            "internal"
        );
        assert_eq!(answered.message(), "the event log failed");
    }
}
