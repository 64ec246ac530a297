//! The guest player run on the host, over fake kernel files: a regular
//! file stands for a BAR's `resource0`, and the memtype list is a fixed
//! file. The system calls and the process tree are real, so this checks
//! the player's machinery and its messages without a VM (what the kernel
//! reserves is checked by the transcripts in `kernel_check.rs`).

use std::fs;
use std::path::Path;

use pfntrack::kernel::guest::{Paths, play};
use pfntrack::kernel::protocol::{
    ForkTimingSpec, GuestDevice, GuestMsg, Job, JobTrace, PROTOCOL_VERSION, SysResult, unframe,
};

const TRACE: &str = "pfntrack-trace v1
phys mmio 0xfe000000 0xfe100000 uncachable
setup
worker 0
proc 1
mmap 1 0 16 pfnmap
remap 0 0 16 0xfe010 UC-
mmap 1 1 8 normal
fork 1 2 10
split 10 4 12
munmap 12 2 4 13
mremap 0 move
mremap 1 grow 12
mremap 0 shrink 8
split 1 3 14
exit 2
munmap 0 0 8 0
exit 1
worker 1
proc 1
mmap 1 0 4 pfnmap
remap 0 0 4 0xfe020 UC-
fork 1 2 5
end
";

#[test]
fn the_player_replays_a_trace_with_real_processes() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("guest_player");
    let _ = fs::remove_dir_all(&dir);
    let dev = dir.join("pci/0000:00:03.0");
    fs::create_dir_all(&dev).unwrap();
    fs::write(
        dev.join("resource"),
        "0x00000000fe900000 0x00000000fe9fffff 0x0000000000040200\n",
    )
    .unwrap();
    fs::write(dev.join("resource0"), vec![0u8; 1 << 20]).unwrap();
    let list = dir.join("pat_memtype_list");
    fs::write(
        &list,
        "PAT memtype list:\nPAT: [mem 0x00000000fe900000-0x00000000fe920000] uncached-minus\n\
         PAT: [mem 0x0000000080000000-0x0000000080001000] write-back\n",
    )
    .unwrap();
    fs::write(dir.join("iomem"), "00100000-1ffdffff : System RAM\n").unwrap();
    fs::write(dir.join("t.trace"), TRACE).unwrap();
    let job = Job {
        version: PROTOCOL_VERSION,
        devices: vec![GuestDevice {
            pci: "0000:00:03.0".into(),
            bar: 0,
            needs_wc: false,
        }],
        traces: vec![JobTrace {
            name: "t.trace".into(),
            guest_path: dir.join("t.trace").to_string_lossy().into_owned(),
        }],
        fork_timing: Some(ForkTimingSpec {
            vmas: vec![1, 4],
            repeat: 2,
        }),
    };
    let job_path = dir.join("job.json");
    fs::write(&job_path, serde_json::to_vec(&job).unwrap()).unwrap();
    let channel = dir.join("channel");
    fs::write(&channel, "").unwrap();
    let paths = Paths {
        pci_devices: dir.join("pci"),
        pat_memtype_list: list,
        kmsg: dir.join("no-kmsg"),
        iomem: dir.join("iomem"),
    };
    play(&job_path, &channel, paths).unwrap();

    let text = fs::read_to_string(&channel).unwrap();
    let msgs: Vec<GuestMsg> = text
        .lines()
        .map(|l| unframe(l).unwrap().expect("every line is framed"))
        .collect();
    let GuestMsg::Hello(hello) = &msgs[0] else {
        panic!("{:?}", msgs[0]);
    };
    assert_eq!(hello.bars.len(), 1);
    assert_eq!(
        (hello.bars[0].start, hello.bars[0].end),
        (0xfe90_0000, 0xfea0_0000)
    );
    assert_eq!(hello.ram, vec![(0x10_0000, 0x1ffe_0000)]);
    // Only the entry overlapping the BAR is reported.
    assert_eq!(hello.entries.len(), 1);
    // The fake list never changes: the probe sees one entry, as the ctx
    // family would show it.
    assert_eq!(hello.fork_probe_entries, 1);
    assert!(matches!(msgs[1], GuestMsg::Start { trace: 0, .. }));
    let ops: Vec<_> = msgs
        .iter()
        .filter_map(|m| match m {
            GuestMsg::Op(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(ops.len(), 18);
    for (n, r) in ops.iter().enumerate() {
        // Worker 1 starts after worker 0's 14 ops and its own header line.
        let (w, i, line) = if n < 14 {
            (0, n, n + 5)
        } else {
            (1, n - 14, n + 6)
        };
        assert_eq!((r.trace, r.worker, r.index, r.line), (0, w, i, line));
        let want = match i {
            // The pfnmap mmap is made with its remap.
            1 => SysResult::NoSyscall,
            _ => SysResult::Ok,
        };
        // A regular file is not VM_PFNMAP, so its grow is no EFAULT here.
        assert_eq!(r.result, want, "op {n}: {r:?}");
        assert_eq!(r.entries.len(), 1);
    }
    assert!(matches!(msgs[msgs.len() - 3], GuestMsg::End { trace: 0 }));
    let GuestMsg::ForkTiming(t) = &msgs[msgs.len() - 2] else {
        panic!("{:?}", msgs[msgs.len() - 2]);
    };
    assert_eq!(t.vmas, vec![1, 4]);
    assert!(t.fork_ns.iter().chain(&t.exit_ns).all(|s| s.len() == 2));
    assert_eq!(t.base_fork_ns.len(), 2);
    assert!(matches!(msgs.last(), Some(GuestMsg::Done)));
}

#[test]
fn a_player_failure_reaches_the_host() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("guest_player-fail");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let job = Job {
        version: PROTOCOL_VERSION,
        devices: vec![GuestDevice {
            pci: "0000:00:09.0".into(),
            bar: 0,
            needs_wc: false,
        }],
        traces: vec![],
        fork_timing: None,
    };
    let job_path = dir.join("job.json");
    fs::write(&job_path, serde_json::to_vec(&job).unwrap()).unwrap();
    let channel = dir.join("channel");
    fs::write(&channel, "").unwrap();
    let paths = Paths {
        pci_devices: dir.join("pci"),
        pat_memtype_list: dir.join("list"),
        kmsg: dir.join("kmsg"),
        iomem: dir.join("iomem"),
    };
    let e = play(&job_path, &channel, paths).unwrap_err();
    assert!(format!("{e:#}").contains("0000:00:09.0"), "{e:#}");
    let text = fs::read_to_string(&channel).unwrap();
    let Some(GuestMsg::Error { message }) = unframe(text.lines().last().unwrap()).unwrap() else {
        panic!("{text}");
    };
    assert!(message.contains("device 0"), "{message}");
}
