//! A webhook receiver for the suites: an HTTP server in the test that checks each request's
//! Standard Webhooks signature against the secret it is given (once the endpoint is made), keeps
//! every request, and answers 500 to the first few when asked to.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub webhook_id: String,
    pub answered: u16,
    pub signature_ok: bool,
    pub content_type: String,
    pub event: Value,
}

#[derive(Clone)]
pub struct Receiver {
    pub secret: Arc<Mutex<Option<String>>>,
    /// Answer 500 to this many requests first.
    pub fail_first: Arc<AtomicUsize>,
    pub received: Arc<Mutex<Vec<Received>>>,
}

async fn receive(
    receiver: actix_web::web::Data<Receiver>,
    request: actix_web::HttpRequest,
    body: actix_web::web::Bytes,
) -> actix_web::HttpResponse {
    let mut headers = http::HeaderMap::new();
    for (name, value) in request.headers() {
        if let (Ok(name), Ok(value)) =
            (http::HeaderName::from_bytes(name.as_str().as_bytes()), http::HeaderValue::from_bytes(value.as_bytes()))
        {
            headers.insert(name, value);
        }
    }
    let secret = receiver.secret.lock().unwrap().clone().unwrap_or_default();
    let signature_ok = standardwebhooks::Webhook::new(&secret).is_ok_and(|hook| hook.verify(&body, &headers).is_ok());
    let failing = receiver.fail_first.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    let answered = if failing { 500 } else { 204 };
    receiver.received.lock().unwrap().push(Received {
        webhook_id: request.headers().get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned(),
        answered,
        signature_ok,
        content_type: request
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        event: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    if failing {
        actix_web::HttpResponse::InternalServerError().finish()
    } else {
        actix_web::HttpResponse::NoContent().finish()
    }
}

pub fn start_receiver(fail_first: usize) -> (Receiver, String) {
    let receiver = Receiver {
        secret: Arc::default(),
        fail_first: Arc::new(AtomicUsize::new(fail_first)),
        received: Arc::default(),
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/hooks/scim", listener.local_addr().unwrap().port());
    let data = actix_web::web::Data::new(receiver.clone());
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new().app_data(data.clone()).default_service(actix_web::web::to(receive))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (receiver, url)
}

pub fn delivered(receiver: &Receiver) -> Vec<Received> {
    receiver.received.lock().unwrap().iter().filter(|r| r.answered < 300).cloned().collect()
}
