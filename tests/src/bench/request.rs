//! Request/reply rate and latency with async-nats: N concurrent requesters (one connection
//! each) against one responder connection.

use std::time::{Duration, Instant};

use futures::StreamExt;

/// Result of a request/reply run.
#[derive(Debug, Clone, Copy)]
pub struct RequestStats {
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
}

const SUBJECT: &str = "bench.echo";

/// Runs `total` requests spread over `requesters` concurrent requesters.
pub fn run(url: &str, requesters: usize, total: usize) -> Result<RequestStats, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(run_async(url, requesters, total))
}

async fn run_async(url: &str, requesters: usize, total: usize) -> Result<RequestStats, String> {
    let connect = || async {
        async_nats::ConnectOptions::new()
            .request_timeout(Some(Duration::from_secs(30)))
            .connect(url)
            .await
            .map_err(|e| format!("connect: {e}"))
    };
    let responder = connect().await?;
    let mut requests = responder
        .subscribe(SUBJECT)
        .await
        .map_err(|e| e.to_string())?;
    responder.flush().await.map_err(|e| e.to_string())?;
    let serve = tokio::spawn({
        let responder = responder.clone();
        async move {
            while let Some(msg) = requests.next().await {
                if let Some(reply) = msg.reply {
                    if responder.publish(reply, msg.payload).await.is_err() {
                        return;
                    }
                }
            }
        }
    });

    let mut clients = Vec::with_capacity(requesters);
    for _ in 0..requesters {
        clients.push(connect().await?);
    }
    // Make sure the responder's subscription is live before timing anything.
    clients[0]
        .request(SUBJECT, "warmup".into())
        .await
        .map_err(|e| format!("warm-up request: {e}"))?;

    let per = total / requesters;
    let began = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|client| {
            tokio::spawn(async move {
                let payload = bytes::Bytes::from_static(b"0123456789abcdef");
                let mut latencies = Vec::with_capacity(per);
                for _ in 0..per {
                    let t = Instant::now();
                    client
                        .request(SUBJECT, payload.clone())
                        .await
                        .map_err(|e| format!("request: {e}"))?;
                    latencies.push(t.elapsed());
                }
                Ok::<_, String>(latencies)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(per * requesters);
    for task in tasks {
        all.extend(task.await.map_err(|e| e.to_string())??);
    }
    let elapsed = began.elapsed();
    serve.abort();
    all.sort_unstable();
    let pick = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    if all.is_empty() {
        return Err("no requests completed".into());
    }
    Ok(RequestStats {
        per_second: all.len() as f64 / elapsed.as_secs_f64(),
        p50: pick(0.50),
        p99: pick(0.99),
    })
}
