//! `tree-walk`: a folder tree a page at a time, over a send-dir's local folder
//! ([`LocalWalk`]) or a remote SFTP folder ([`RemoteWalk`]).

use std::sync::{Arc, Mutex};

use wasmtime::component::Resource;

use super::dir::LocalWalk;
use super::sftp::RemoteWalk;
use super::HostState;
use crate::bindings::red::connector::local::{DirEntry, HostTreeWalk};
use crate::Error;

/// The most entries one page holds.
const MAX_PAGE: u32 = 1024;

/// The guest's handle to a walk.
pub enum TreeWalkHandle {
    Local(LocalWalk),
    /// Shared with the blocking task that reads a page (libssh2 blocks).
    Remote(Arc<Mutex<RemoteWalk>>),
}

impl TreeWalkHandle {
    pub(crate) fn remote(walk: RemoteWalk) -> Self {
        TreeWalkHandle::Remote(Arc::new(Mutex::new(walk)))
    }
}

impl HostState {
    /// Hands `walk` to the guest; it counts as an open handle, like a session.
    pub(crate) fn push_walk(
        &mut self,
        walk: TreeWalkHandle,
    ) -> Result<Resource<TreeWalkHandle>, Error> {
        self.open_handle()?;
        self.table.push(walk).map_err(|e| {
            self.close_handle();
            e.into()
        })
    }
}

impl HostTreeWalk for HostState {
    async fn next(
        &mut self,
        walk: Resource<TreeWalkHandle>,
        max: u32,
    ) -> Result<Vec<DirEntry>, Error> {
        let max = max.min(MAX_PAGE) as usize;
        match self.table.get_mut(&walk)? {
            TreeWalkHandle::Local(walk) => walk.page(max),
            TreeWalkHandle::Remote(walk) => {
                let walk = walk.clone();
                super::sftp::blocking(&self.transfer.stop, move || {
                    walk.lock().unwrap().page(max, true)
                })
                .await
            }
        }
    }

    async fn drop(&mut self, walk: Resource<TreeWalkHandle>) -> wasmtime::Result<()> {
        let walk = self.table.delete(walk)?;
        self.close_handle();
        // A remote walk closes the folders it holds open: round trips, off the async threads.
        if let TreeWalkHandle::Remote(walk) = walk {
            let _ = super::sftp::blocking(&self.transfer.stop, move || {
                drop(walk);
                Ok(())
            })
            .await;
        }
        Ok(())
    }
}
