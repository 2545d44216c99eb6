//! poolkeeper grpc (placeholder until its issue lands).
