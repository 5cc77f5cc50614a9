"""One control group per sandbox (issue 17): memory, processes and CPU limited for all of a submission's
processes together, processes that leave their session included; the group is emptied and removed."""
import subprocess
import sys
import time

import pytest

from graders.grading import cgroups

pytestmark = pytest.mark.skipif(cgroups.available()[0] is None, reason="no writable cgroup hierarchy here")

HOLD = "import os, time\n{body}\ntime.sleep(30)\n"


def test_memory_is_limited_across_processes_and_the_group_is_removed():
    """Three processes of 120 MiB each in a group of 256 MiB: the kernel kills within the group."""
    group = cgroups.Cgroup.create(cgroups.GroupLimits(memory_mb=256, processes=32))
    body = ("for _ in range(2):\n    if os.fork() == 0:\n        break\nblock = bytearray(120 * 2**20)\n"
            "for i in range(0, len(block), 4096):\n    block[i] = 1\n")
    process = subprocess.Popen(group.wrap([sys.executable, "-c", HOLD.format(body=body)]), start_new_session=True)
    deadline = time.monotonic() + 20
    while group.oom_kills() == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert group.oom_kills() >= 1
    assert group.peak_memory_mb() <= 256
    folders = list(group.folders.values())
    group.close()
    process.wait(timeout=10)
    assert group.pids() == set() and not any(folder.exists() for folder in folders)


def test_processes_that_leave_with_setsid_stay_in_the_group_and_count():
    group = cgroups.Cgroup.create(cgroups.GroupLimits(memory_mb=512, processes=8))
    body = ("made = 0\nfor _ in range(20):\n    try:\n        if os.fork() == 0:\n            os.setsid()\n"
            "            time.sleep(30)\n            os._exit(0)\n        made += 1\n    except OSError:\n        break\n"
            "print(made, flush=True)\n")
    process = subprocess.Popen(group.wrap([sys.executable, "-c", HOLD.format(body=body)]), stdout=subprocess.PIPE,
                               text=True, start_new_session=True)
    made = int(process.stdout.readline())
    assert made < 8                                 # pids.max counts every process of the group
    assert len(group.pids()) == made + 1
    group.close()
    process.wait(timeout=10)
    assert group.pids() == set()
