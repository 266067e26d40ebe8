"The command line: help, and one clear error line with exit status 2 for bad input."
import pytest
from conftest import cli


def test_help(env):
    r = cli('--help', env=env)
    assert r.returncode == 0 and 'train' in r.stdout and 'run' in r.stdout and 'docs' in r.stdout


@pytest.mark.parametrize('args, msg', [
    (['run', '--preset', 'huge'], 'unknown preset'),
    (['train', '--preset', 'nope'], 'unknown preset'),
    (['run', '--preset', 'smoke', '--models', 'zzzz'], 'unknown model id'),
    (['run', '--preset', 'smoke', '--stages', 'magic'], 'unknown stage'),
    (['run', '--preset', 'smoke', '--jobs', '0'], 'must be positive'),
    (['run', '--preset', 'smoke', '--jobs', '-3'], 'must be positive'),
    (['run', '--preset', 'smoke', '--backend', 'spark'], 'invalid choice'),
    (['train', '--preset', 'smoke', '--data-dir', '/no/such/dir'], 'does not exist'),
    (['run', '--preset', 'smoke', '--threads', '100000'], 'more than the'),
    (['train', '--preset', 'smoke', '--threads', '100000'], 'more than the'),
    (['run', '--preset', 'smoke', '--jobs', '2'], 'needs --backend ray'),
    (['train', '--preset', 'smoke', '--precision', 'fp16'], "invalid choice: 'fp16'"),
    (['frobnicate'], 'invalid choice'),
])
def test_bad_input_one_line_exit_2(env, tmp_path, args, msg):
    r = cli(*args, '--out', tmp_path/'out', env=env) if args[0] in ('run', 'train') else cli(*args, env=env)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert msg in lines[0]
    assert not (tmp_path/'out'/'results.csv').exists()   # nothing written


def test_empty_data_dir(env, tmp_path):
    (tmp_path/'data').mkdir()
    r = cli('train', '--preset', 'smoke', '--data-dir', tmp_path/'data', '--out', tmp_path/'out', env=env)
    assert r.returncode == 2 and 'CIFAR-10 not found' in r.stderr and len(r.stderr.strip().splitlines()) == 1
