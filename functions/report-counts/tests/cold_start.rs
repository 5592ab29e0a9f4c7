//! The binary's cold start leaves the system's CA store alone: its HTTPS client trusts the
//! compiled-in roots (sms-core/src/tls.rs).

#[test]
fn its_cold_start_reads_no_system_ca_store() {
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_report-counts"));
    assert_eq!(cold_start::reads_system_ca_store(binary), Ok(false));
}
