//! A SOCK_SEQPACKET control socket to the zygote: one JSON message per packet, optionally
//! carrying file descriptors (SCM_RIGHTS) — how a worker receives its channel and output pipes.
//! The calls are nix's (`sendmsg` with `ControlMessage::ScmRights`, as youki's channel does).

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::socket::{
    recv, sendmsg, socketpair as nix_socketpair, AddressFamily, ControlMessage, MsgFlags, SockFlag,
    SockType, UnixAddr,
};
use std::io;
use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

pub struct SeqPacket {
    fd: AsyncFd<OwnedFd>,
}

/// What a socketpair is for.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Message boundaries kept (the zygote's control socket).
    SeqPacket,
    /// A byte stream (a worker's JSON-lines channel).
    Stream,
}

/// A socketpair of the given kind, both ends CLOEXEC.
pub fn socketpair(kind: Kind) -> io::Result<(OwnedFd, OwnedFd)> {
    let ty = match kind {
        Kind::SeqPacket => SockType::SeqPacket,
        Kind::Stream => SockType::Stream,
    };
    Ok(nix_socketpair(
        AddressFamily::Unix,
        ty,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?)
}

/// A CLOEXEC pipe: (read end, write end).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(OFlag::O_CLOEXEC)?)
}

pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    let flags = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

impl SeqPacket {
    pub fn new(fd: OwnedFd) -> io::Result<Self> {
        set_nonblocking(fd.as_raw_fd())?;
        // SAFETY: we own `fd` and it stays open (and registered once) for the AsyncFd's life.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)?;
        Ok(SeqPacket { fd })
    }

    /// Sends one packet with `fds` attached.
    pub async fn send(&self, data: &[u8], fds: &[RawFd]) -> io::Result<()> {
        loop {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|fd| send_raw(fd.as_raw_fd(), data, fds)) {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }

    /// Receives one packet; an empty vector means the peer closed the socket.
    pub async fn recv(&self) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let mut guard = self.fd.ready(Interest::READABLE).await?;
            match guard.try_io(|fd| Ok(recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty())?)) {
                Ok(Ok(n)) => {
                    buf.truncate(n);
                    return Ok(buf);
                }
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

fn send_raw(sock: RawFd, data: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let iov = [IoSlice::new(data)];
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
    let n = sendmsg::<UnixAddr>(sock, &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None)?;
    if n != data.len() {
        return Err(io::Error::other("short write on a seqpacket socket"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{recvmsg, ControlMessageOwned};
    use std::io::{IoSliceMut, Read, Write};
    use std::os::fd::FromRawFd;

    #[test]
    fn a_packet_carries_descriptors() {
        let (a, b) = socketpair(Kind::SeqPacket).unwrap();
        let (r, w) = pipe().unwrap();
        send_raw(a.as_raw_fd(), b"hello", &[w.as_raw_fd()]).unwrap();
        drop(w);
        let mut buf = [0u8; 16];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<UnixAddr>(b.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::empty())
            .unwrap();
        let fd = msg
            .cmsgs()
            .unwrap()
            .find_map(|c| match c {
                ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
                _ => None,
            })
            .expect("a descriptor came with the packet");
        assert_eq!(msg.bytes, 5);
        // SAFETY: the kernel just installed `fd` in this process for us alone.
        let mut got = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        got.write_all(b"x").unwrap();
        drop(got);
        let mut out = String::new();
        std::fs::File::from(r).read_to_string(&mut out).unwrap();
        assert_eq!(out, "x", "the passed descriptor is the pipe's write end");
    }
}
