//! The connections between the processes of a timely cluster (`-n` processes named by a
//! hostfile), made here rather than by timely. Timely tries again once a second to reach a
//! process that is not listening yet, and looks once a second for the connections it waits for,
//! so a job whose processes start together took over a second to begin. These are made as soon
//! as both ends are up (a process still starting is tried again within milliseconds). Each
//! connection opens as timely's do (the connecting process's index, a big-endian `u64`), and
//! the connections are handed to timely's own network threads: the mesh is the one timely would
//! have formed.

use std::any::Any;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
use timely::communication::allocator::ProcessBuilder;
use timely::communication::{AllocatorBuilder, Hooks};
use timely::CommunicationConfig;

/// The longest wait between two attempts to reach a process that is not listening yet.
const MOST_BACKOFF: Duration = Duration::from_millis(100);

/// The allocators of this process's workers under `config`, and what must be kept until they
/// are done (the network threads' guard): what `CommunicationConfig::try_build` gives, with a
/// cluster's connections made by [`connect`]. A cluster process listening on several addresses
/// is left to timely.
pub(super) fn build(
    config: CommunicationConfig,
) -> Result<(Vec<AllocatorBuilder>, Box<dyn Any + Send>)> {
    match config {
        CommunicationConfig::Cluster {
            threads,
            process,
            addresses,
            zerocopy,
            ..
        } if addresses
            .get(process)
            .is_some_and(|own| !own.contains(char::is_whitespace)) =>
        {
            let sockets = connect(&addresses, process)?;
            let hooks = Hooks::default();
            let (refill, spill) = (hooks.refill.clone(), hooks.spill.clone());
            let allocators = match zerocopy {
                true => ProcessBuilder::new_bytes_vector(threads, refill, spill),
                false => ProcessBuilder::new_typed_vector(threads, refill, spill),
            };
            let (builders, guard) =
                initialize_networking_from_sockets(allocators, sockets, process, threads, hooks)
                    .context("starting timely's network threads")?;
            let builders = builders.into_iter().map(AllocatorBuilder::Tcp).collect();
            Ok((builders, Box::new(guard)))
        }
        config => config.try_build().map_err(|error| anyhow!(error)),
    }
}

/// One connection to each other process of `addresses`, in process order, with `None` at
/// `own`: dialled to the processes before it, accepted from those after it.
fn connect(addresses: &[String], own: usize) -> Result<Vec<Option<TcpStream>>> {
    let listener = TcpListener::bind(&addresses[own])
        .with_context(|| format!("process {own} listening on {}", addresses[own]))?;
    let earlier = addresses[..own].to_vec();
    let dialling = std::thread::spawn(move || {
        let dial = |address: &String| dial(address, own);
        earlier.iter().map(dial).collect::<Result<Vec<_>>>()
    });
    let count = addresses.len() - own - 1;
    if count > 0 {
        tracing::info!("process {own}: awaiting the processes after it ({count})");
    }
    let later = accept(&listener, own, count)?;
    let earlier = dialling
        .join()
        .map_err(|_| anyhow!("dialling the other processes panicked"))??;
    let own_place = std::iter::once(None);
    let sockets = earlier.into_iter().map(Some).chain(own_place).chain(later);
    Ok(sockets.collect())
}

/// Connects to the process at `address` once it listens, and names process `own` to it.
fn dial(address: &str, own: usize) -> Result<TcpStream> {
    let mut backoff = Duration::from_millis(1);
    let mut told = false;
    loop {
        match TcpStream::connect(address) {
            Ok(mut stream) => {
                stream.set_nodelay(true)?;
                stream
                    .write_all(&(own as u64).to_be_bytes())
                    .with_context(|| format!("introducing process {own} to {address}"))?;
                return Ok(stream);
            }
            Err(error) => {
                if !std::mem::replace(&mut told, true) {
                    tracing::info!("process {own}: waiting for {address} to listen ({error})");
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(MOST_BACKOFF);
            }
        }
    }
}

/// The connections of the `count` processes after `own`, in process order, as each arrives.
fn accept(listener: &TcpListener, own: usize, count: usize) -> Result<Vec<Option<TcpStream>>> {
    let mut later: Vec<Option<TcpStream>> = (0..count).map(|_| None).collect();
    while later.iter().any(Option::is_none) {
        let (mut stream, _) = listener.accept().context("awaiting the other processes")?;
        stream.set_nodelay(true)?;
        let mut index = [0; 8];
        stream.read_exact(&mut index)?;
        let index = u64::from_be_bytes(index) as usize;
        let slot = index
            .checked_sub(own + 1)
            .and_then(|place| later.get_mut(place))
            .with_context(|| format!("process {own} was reached by process {index}"))?;
        *slot = Some(stream);
    }
    Ok(later)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three processes' connections made at once on free local ports: each sees the other two,
    /// in order, and a byte written on one end reaches the other.
    #[test]
    fn three_processes_connect_each_to_the_others() {
        // Ports below the ephemeral range (from 32768 by default), which the processes' own
        // dialling cannot take from under them.
        let free = |port: &u16| TcpListener::bind(("127.0.0.1", *port)).is_ok();
        let start = 10_000 + std::process::id() % 20_000;
        let ports: Vec<u16> = (start..30_000)
            .map(|port| port as u16)
            .filter(free)
            .take(3)
            .collect();
        let addresses: Vec<String> = ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        // The last process starts first: the others are not listening yet when it dials them.
        let handles: Vec<_> = (0..3)
            .rev()
            .map(|own| {
                let addresses = addresses.clone();
                std::thread::sleep(Duration::from_millis(20));
                std::thread::spawn(move || (own, connect(&addresses, own).unwrap()))
            })
            .collect();
        let mut meshes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        meshes.sort_by_key(|(own, _)| *own);
        for (own, sockets) in &meshes {
            assert_eq!(sockets.len(), 3);
            for (other, socket) in sockets.iter().enumerate() {
                assert_eq!(
                    socket.is_none(),
                    other == *own,
                    "process {own}, socket {other}"
                );
            }
        }
        for from in 0..3 {
            for to in (0..3).filter(|to| *to != from) {
                let mut sending = meshes[from].1[to].as_ref().unwrap();
                sending.write_all(&[from as u8 * 10 + to as u8]).unwrap();
                let mut byte = [0];
                let mut receiving = meshes[to].1[from].as_ref().unwrap();
                receiving.read_exact(&mut byte).unwrap();
                assert_eq!(byte[0], from as u8 * 10 + to as u8);
            }
        }
    }
}
