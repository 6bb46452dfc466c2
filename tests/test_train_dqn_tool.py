"""tools/train_dqn.py end to end at a tiny budget: it writes weights and logs that load."""
import importlib.util
from pathlib import Path

import numpy as np

from fastgrad.rl.dqn import load_run

ROOT = Path(__file__).resolve().parent.parent


def _tool():
    spec = importlib.util.spec_from_file_location("train_dqn", ROOT / "tools" / "train_dqn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_training_run_writes_loadable_weights_and_log(tmp_path):
    assert _tool().main(["--iterations", "300", "--out-dir", str(tmp_path), "--log-dir", str(tmp_path)]) == 0
    net, config, log = load_run(tmp_path / "pocket_dqn.npz")
    assert config.dueling and config.n_step == 3
    assert log["iterations"][-1] == 300 and log["success"].shape == (len(log["iterations"]), config.eval_depths)
    assert np.all(np.diff(log["episodes"]) >= 0)
    text = (tmp_path / "train_dqn.log").read_text()
    assert "dqn done: 300 iterations" in text


def test_ablations_change_one_thing_each(tmp_path):
    tool = _tool()
    assert tool.main(["--ablations", "--iterations", "60", "--out-dir", str(tmp_path),
                      "--log-dir", str(tmp_path)]) == 0
    configs = {}
    for label in tool.ABLATIONS:
        slug = label.replace(" ", "_").replace("-", "_")
        _, configs[label], log = load_run(tmp_path / f"pocket_dqn_ablation_{slug}.npz")
        assert log["iterations"][-1] == 60
    full = vars(configs["full"])
    for label, change in tool.ABLATIONS.items():
        differs = {k for k, v in vars(configs[label]).items() if full[k] != v}
        assert differs == set(change), label
