//! CH-2/CH-9: a listening proc fed garbage, truncated frames, oversized length
//! prefixes, unknown messages and undecodable envelopes over real TCP
//! connections reports each error, closes that link only, and keeps serving
//! a well-behaved peer throughout.

use std::time::Duration;

use lockstep::channel::wire::SessionMessage;
use lockstep::channel::{
    ChannelConfig, ChannelError, FrameError, LocalNetwork, Router, Server, Transport, Transports,
    WireError, serve,
};
use lockstep::rt::time;
use lockstep::{Instance, PortReceiver, PortRef, Proc, ProcConfig, ProcId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut bytes = (payload.len() as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(payload);
    bytes
}

struct Node {
    proc: Proc,
    server: Server,
}

async fn node(name: &str, config: &ChannelConfig) -> Node {
    let transports = Transports::new(LocalNetwork::new(), config.frame_bytes_max);
    let listener = transports
        .listen(&"tcp:127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let proc_id = ProcId::remote(name, &listener.local_addr().to_string()).unwrap();
    let router = Router::new(transports, config.clone());
    let proc = Proc::with_config(proc_id, router, ProcConfig::default());
    let server = serve(&proc, listener, config.clone());
    Node { proc, server }
}

/// Write `bytes` as a hostile peer, then check the server hung up on us.
async fn attack(server_port: u16, bytes: &[u8], half_close: bool) {
    let mut stream = TcpStream::connect(("127.0.0.1", server_port))
        .await
        .unwrap();
    stream.write_all(bytes).await.unwrap();
    if half_close {
        stream.shutdown().await.unwrap();
    }
    // The server answers a Hello with a Welcome; skip whatever it sends until
    // it closes the link (CH-9: the link is closed, not left hanging).
    let mut sink = Vec::new();
    let closed = time::timeout(Duration::from_secs(10), stream.read_to_end(&mut sink)).await;
    assert!(closed.is_ok(), "the server closes a link after bad input");
}

/// A well-behaved sender's traffic: `count` numbers from `start`, all received in order.
async fn exchange(
    client: &Instance<()>,
    target: &PortRef<u64>,
    received: &mut PortReceiver<u64>,
    start: u64,
    count: u64,
) {
    for n in start..start + count {
        target.send(client, n).unwrap();
    }
    for n in start..start + count {
        let got = time::timeout(Duration::from_secs(10), received.recv())
            .await
            .expect("the good link keeps working")
            .unwrap();
        assert_eq!(got, n);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ch_9_bad_input_closes_only_its_link_and_is_reported() {
    let config = ChannelConfig {
        frame_bytes_max: 64 * 1024,
        message_bytes_max: 60 * 1024,
        ..ChannelConfig::default()
    };
    let server = node("server", &config).await;
    let lockstep::channel::ChannelAddr::Tcp { port, .. } = server.server.local_addr().clone()
    else {
        panic!("tcp")
    };
    let (sink, _) = server.proc.instance("sink").unwrap();
    let (port_handle, mut received) = sink.open_port::<u64>();
    let target = port_handle.bind();
    let good = node("good", &config).await;
    let (client, _) = good.proc.instance("client").unwrap();

    exchange(&client, &target, &mut received, 1, 100).await;

    let hello = SessionMessage::Hello {
        session_id: 77,
        first_unacked: 1,
        first_unwritten: 1,
    }
    .encode();
    let mut bad_envelope = frame(&hello);
    bad_envelope.extend(frame(
        &SessionMessage::Data {
            seq: 1,
            payload: b"definitely not an envelope",
        }
        .encode(),
    ));
    let mut gap = frame(&hello);
    gap.extend(frame(
        &SessionMessage::Data {
            seq: 5,
            payload: b"x",
        }
        .encode(),
    ));
    let attacks: Vec<(&str, Vec<u8>, bool)> = vec![
        (
            "garbage",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            false,
        ),
        ("oversized prefix", u32::MAX.to_be_bytes().to_vec(), false),
        ("empty frame", vec![0, 0, 0, 0], false),
        (
            "truncated frame",
            [&[0, 0, 0, 100][..], &[1; 10]].concat(),
            true,
        ),
        ("unknown tag", frame(&[99, 1, 2]), false),
        (
            "data before hello",
            frame(
                &SessionMessage::Data {
                    seq: 1,
                    payload: b"x",
                }
                .encode(),
            ),
            false,
        ),
        ("undecodable envelope", bad_envelope, false),
        ("gap", gap, false),
    ];
    for (index, (name, bytes, half_close)) in attacks.iter().enumerate() {
        attack(port, bytes, *half_close).await;
        // The link's task records its failure as it closes the link: wait
        // for it, so the failures are listed in attack order even when the
        // machine is loaded.
        let deadline = time::now() + Duration::from_secs(10);
        while server.server.failures().len() <= index {
            assert!(time::now() < deadline, "{name}: no failure recorded");
            time::sleep(Duration::from_millis(1)).await;
        }
        // The good link keeps working between attacks.
        exchange(&client, &target, &mut received, 101 + 10 * index as u64, 10).await;
    }

    // Every attack is on record, with a typed error.
    let deadline = time::now() + Duration::from_secs(10);
    // The failure list and the counters are updated separately: wait for both.
    let delivered_expected = 100 + 10 * attacks.len() as u64;
    while server.server.failures().len() < attacks.len()
        || server.server.stats().links_failed < attacks.len() as u64
        || server.server.stats().messages_delivered < delivered_expected
    {
        assert!(time::now() < deadline, "{:?}", server.server.failures());
        time::sleep(Duration::from_millis(10)).await;
    }
    let errors: Vec<ChannelError> = server
        .server
        .failures()
        .into_iter()
        .map(|failure| failure.error)
        .collect();
    assert!(matches!(
        errors[0],
        ChannelError::Frame(FrameError::TooLarge { .. })
    ));
    assert_eq!(
        errors[1],
        ChannelError::Frame(FrameError::TooLarge {
            claimed_bytes: u64::from(u32::MAX),
            limit_bytes: 64 * 1024
        })
    );
    assert_eq!(errors[2], ChannelError::Frame(FrameError::Empty));
    assert_eq!(
        errors[3],
        ChannelError::Frame(FrameError::Truncated { buffered_bytes: 14 })
    );
    assert_eq!(
        errors[4],
        ChannelError::Wire(WireError::UnknownTag { tag: 99 })
    );
    assert!(
        matches!(errors[5], ChannelError::Session(_)),
        "{:?}",
        errors[5]
    );
    assert!(
        matches!(errors[6], ChannelError::Envelope(_)),
        "{:?}",
        errors[6]
    );
    assert!(
        matches!(errors[7], ChannelError::Session(_)),
        "{:?}",
        errors[7]
    );
    for error in &errors {
        println!("reported: {error}");
    }
    let stats = server.server.stats();
    assert_eq!(stats.links_failed, attacks.len() as u64);
    assert_eq!(stats.messages_delivered, delivered_expected);
    exchange(&client, &target, &mut received, 1_000, 10).await;
}
