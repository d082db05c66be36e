import subprocess
import sys

CHECK = """
import pkgutil, sys, importlib
import humanvid
for mod in pkgutil.walk_packages(humanvid.__path__, "humanvid."):
    importlib.import_module(mod.name)
import tasks.download, tasks.estimate, tasks.shard, tasks.pretrain, tasks.finetune, tasks.sample, tasks.evaluate, tasks.report
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("prefect", "dvc"))
print(bad[:5])
sys.exit(1 if bad else 0)
"""


def test_library_and_tasks_never_import_prefect_or_dvc():
    proc = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
