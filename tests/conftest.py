"Shared fixtures: a private cache per test session (decoded CIFAR-10 is reused from the main cache when present)."
import os, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(scope='session')
def session_cache(tmp_path_factory):
    "A fresh ROBUSTNESS_STUDY_CACHE whose `cifar10/` decoded arrays are copied from the current cache (if any)."
    d = tmp_path_factory.mktemp('cache')
    main = Path(os.environ.get('ROBUSTNESS_STUDY_CACHE') or Path.home()/'.cache'/'robustness_study')
    if (main/'cifar10').is_dir(): shutil.copytree(main/'cifar10', d/'cifar10')
    return d


@pytest.fixture
def env(session_cache):
    "Environment for CLI subprocesses: private cache, real data folder, few threads."
    e = dict(os.environ, ROBUSTNESS_STUDY_CACHE=str(session_cache), PYTHONUNBUFFERED='1', OMP_NUM_THREADS='2')
    e.setdefault('ROBUSTNESS_STUDY_DATA', str(ROOT.parent/'shared'/'data'))
    return e


def cli(*args, env=None, cwd=None, timeout=900, **kw):
    "Run the robustness-study console script; returns the CompletedProcess."
    return subprocess.run([str(BIN/'robustness-study'), *map(str, args)], env=env, cwd=cwd or ROOT, capture_output=True,
                          text=True, timeout=timeout, **kw)


def one_line_error(r, msg):
    "Assert a CLI result is a refusal: exit status 2 and one line on stderr containing `msg`."
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert msg in lines[0], lines[0]
