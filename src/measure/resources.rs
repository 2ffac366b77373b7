//! Host-side resource sampling from procfs.
