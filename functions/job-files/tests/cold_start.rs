//! The binary's cold start leaves the system's CA store alone: its HTTPS clients (the AWS
//! SDK's, and Plivo's Pricing API's for a capped upload's prices) trust the compiled-in roots
//! (sms-core/src/tls.rs).

#[test]
fn its_cold_start_reads_no_system_ca_store() {
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_job-files"));
    assert_eq!(cold_start::reads_system_ca_store(binary), Ok(false));
}
