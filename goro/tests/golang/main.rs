//! Ports of Go's own tests, one module per Go file and named after it. They
//! share one test binary, so goro is linked once for all of them.
//!
//! Each module's docs say what changed from the Go original and why.

/// `src/runtime/chan_test.go`
mod chan_test;
/// `test/chan/doubleselect.go`
mod doubleselect;
/// `test/chan/fifo.go`
mod fifo;
/// `test/chan/goroutines.go`
mod goroutines;
/// `test/chan/nonblock.go`
mod nonblock;
/// `test/chan/powser1.go`
mod powser1;
/// `test/chan/select.go`
mod select;
/// `test/chan/select3.go`
mod select3;
/// `test/chan/select4.go`
mod select4;
/// `test/chan/select6.go`
mod select6;
/// `test/chan/select7.go`
mod select7;
/// `test/chan/sendstmt.go`
mod sendstmt;
/// `test/chan/sieve1.go`
mod sieve1;
/// `test/chan/sieve2.go`
mod sieve2;
/// `test/chan/zerosize.go`
mod zerosize;
