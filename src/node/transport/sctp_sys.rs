//! SCTP system calls (placeholder).
