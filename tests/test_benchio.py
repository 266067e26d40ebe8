"The benchmark scripts' shared output helper: atomic, world-readable, numpy-tolerant JSON (bench/benchio.py)."
import json, stat, sys
from pathlib import Path
import numpy as np, pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent/'bench'))
from benchio import write_json, write_text

def test_write_json_numpy_and_mode(tmp_path):
    p = write_json(tmp_path/'sub'/'r.json', dict(a=np.float32(0.5), b=np.int64(3), rows=[1, 2]))
    assert json.loads(p.read_text()) == dict(a=0.5, b=3, rows=[1, 2])
    assert stat.S_IMODE(p.stat().st_mode) == 0o644
    assert [q.name for q in p.parent.iterdir()] == ['r.json']  # no temporary file left behind

def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    "A write that dies before the rename (here: fsync fails) leaves the previous table intact and no temporary file."
    import os
    p = write_text(tmp_path/'r.json', '{"old": 1}\n')
    def boom(fd): raise OSError('disk full')
    monkeypatch.setattr(os, 'fsync', boom)
    with pytest.raises(OSError, match='disk full'): write_json(p, dict(new=2))
    assert p.read_text() == '{"old": 1}\n'
    assert [q.name for q in tmp_path.iterdir()] == ['r.json']
