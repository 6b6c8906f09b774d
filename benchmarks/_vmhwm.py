"""The peak-memory probe the benchmarks paste into their subprocesses (one copy)."""

PEAK_KB = """
def peak_kb():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            return int(line.split()[1])
    raise RuntimeError('no VmHWM')
"""
"""Source of ``peak_kb()``: the process's peak resident set (``VmHWM``) in kB."""
