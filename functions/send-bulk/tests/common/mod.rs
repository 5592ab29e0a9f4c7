//! The app most send-bulk tests run the real handler in: the in-memory store, files and
//! queues, a fixed secret, 1 MiB uploads, no price table, no fallback provider. A test that
//! needs one setting otherwise (a price table) overrides that field; those that need other
//! parts (DynamoDB, the default upload limit) build their own.

use std::time::Duration;

use send_bulk::App;
use sms_core::{
    config::PublicBaseUrl,
    files::MemoryFiles,
    queue::MemoryQueue,
    secrets::{SecretCache, StaticSecret},
    store::MemoryStore,
};
use sms_test_support::service_secret;

pub type TestApp =
    App<MemoryStore, MemoryQueue, SecretCache<StaticSecret>, MemoryFiles, MemoryQueue>;

/// The app, cutting jobs into batches of `batch_size` recipients.
pub fn app(batch_size: usize) -> TestApp {
    App {
        store: MemoryStore::new(),
        queue: MemoryQueue::default(),
        secrets: SecretCache::new(StaticSecret(service_secret("t")), Duration::from_secs(60)),
        files: MemoryFiles::new(),
        tasks: MemoryQueue::default(),
        public_base_url: PublicBaseUrl::parse("https://sms.example.com").unwrap(),
        batch_size,
        rates: send_bulk::forecast::Rates::default(),
        max_upload_bytes: 1024 * 1024,
        prices: Default::default(),
        fallback: false,
    }
}
