//! Real kernels as the oracle (`pfntrack kernel-check`): replay a trace's
//! system-call-expressible ops in a QEMU guest running a stock Debian
//! kernel, and compare what the kernel's memtype tree shows after every op
//! with what the model of that kernel's family says.
//!
//! Data flows one way: trace -> [`express`] (refuse what has no system
//! call, find the device ranges) -> [`vm`] + [`initramfs`] (boot the
//! guest with one PCI BAR per device range) -> [`guest`] (the player, this
//! same binary, inside the guest) -> [`protocol`] messages -> [`lockstep`]
//! (the model beside them) -> a verdict; [`transcript`] saves and replays
//! the messages, [`forktime`] turns fork timings into ratios.
//! docs/kernel-check.md is the user's guide.

pub mod express;
pub mod forktime;
pub mod guest;
pub mod initramfs;
pub mod lockstep;
pub mod model;
pub mod mutant;
pub mod observe;
pub mod protocol;
pub mod series;
pub mod transcript;
pub mod vm;
