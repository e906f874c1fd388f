//! The journal file mapped into memory, so that writing a record ahead of
//! its order is a copy into the page cache instead of a `write(2)` on the
//! path from tick to order. The pages are the file's page cache (a shared
//! mapping), so a record copied in survives the process being killed
//! exactly as a `write` would; `fsync` writes them to disk as before.
//!
//! The `unsafe` here is the mapping itself (memory mapped from a file is
//! only sound while nothing else changes the file's size or contents) and
//! the `posix_fallocate` call that gives the file its blocks before they
//! are written through the mapping.
//! Within odex, only this type grows the file (mapping it again at once),
//! and only the writer's `Drop` cuts it, after its last access and just
//! before the mapping goes; against other processes the file is held under an exclusive
//! advisory lock for the writer's lifetime, and [`super::journal::recover`]
//! takes the same lock, so a second `odex run` on the same journal stops
//! with an error instead of truncating a mapped file. (A process that
//! ignores advisory locks and truncates the journal could still make a
//! write fault; that is outside what a journal can defend against.)
#![allow(unsafe_code)]

use std::fs::File;
use std::io;

use memmap2::{MmapMut, MmapOptions};

/// A file and its read-write shared mapping over the whole file.
#[derive(Debug)]
pub(crate) struct Mapped {
    file: File,
    map: MmapMut,
}

impl Mapped {
    /// Grows `file` to at least `len` bytes (zeros) and maps all of it.
    /// The caller holds the file's exclusive lock.
    pub(crate) fn new(file: File, len: u64) -> io::Result<Self> {
        if file.metadata()?.len() < len {
            reserve(&file, len)?;
        }
        let map = map(&file)?;
        Ok(Self { file, map })
    }

    /// The mapped bytes (the whole file).
    pub(crate) fn bytes(&mut self) -> &mut [u8] {
        &mut self.map
    }

    /// The mapped length.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The file (for `fsync`).
    pub(crate) const fn file(&self) -> &File {
        &self.file
    }

    /// Grows the file to `len` bytes and maps it again.
    pub(crate) fn grow(&mut self, len: u64) -> io::Result<()> {
        reserve(&self.file, len)?;
        self.map = map(&self.file)?;
        Ok(())
    }
}

/// Grows `file` to `len` bytes with its disk blocks allocated now, so that
/// a full disk is an error here (`ENOSPC`, reported with the journal's
/// path) and never a `SIGBUS` when a page of a sparse file is first written
/// through the mapping.
#[cfg(target_os = "linux")]
fn reserve(file: &File, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let len = libc::off_t::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a plain system call on a file descriptor this `File` owns
    // and keeps open for the call.
    match unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) } {
        0 => Ok(()),
        err => Err(io::Error::from_raw_os_error(err)),
    }
}

#[cfg(not(target_os = "linux"))]
fn reserve(file: &File, len: u64) -> io::Result<()> {
    file.set_len(len)
}

fn map(file: &File) -> io::Result<MmapMut> {
    // SAFETY: `file` is open read-write by this process, which holds its
    // exclusive advisory lock (see the module text); in this process only
    // `Mapped::grow` changes its size while the mapping is used, and maps
    // it again at once, so no access ever reaches past the end of the file
    // (the writer's `Drop` cuts it only after its last access).
    unsafe { MmapOptions::new().map_mut(file) }
}
