//! The harness against the `hello` bin: it reaches its first `/next` and is killed. (No
//! time limit is asserted: the machine's load decides that.)

use std::path::Path;

#[test]
fn hello_reaches_its_first_next() {
    let hello = Path::new(env!("CARGO_BIN_EXE_hello"));
    for _ in 0..3 {
        cold_start::measure_once(hello, &[]).expect("hello reaches /next");
    }
}

#[test]
fn a_binary_that_never_polls_is_reported() {
    let err = cold_start::measure_once(Path::new("/bin/true"), &[]).unwrap_err();
    assert!(err.contains("before its first /next"), "{err}");
}
