"""One rank of the harness's data-parallel evaluation of the toxft tasks, for tests/test_multiprocess.py.

lm-eval's HF model shards the prompts between processes only when it sees several GPUs; on a CPU every process of
``torchrun -m lm_eval`` runs the whole task as rank 0. This script drives the harness's own data-parallel path
with two real ranks instead: the model's ``rank``, ``world_size`` and accelerator (whose ``all_gather``,
``gather_object`` and ``barrier`` the evaluator calls) are those of the gloo process group, so each rank
generates and scores (toxft's filter) its own shard and the evaluator gathers them on rank 0. Each rank writes
how many requests it answered, from inside itself, to OUTPUT/rank-<rank>.json; rank 0 also writes the results
and samples.

    torchrun --nproc_per_node 2 harness_ranks.py MODEL OUTPUT TASKS_PATH '{"n_random": 25}'
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    model_path, output, tasks_path, metadata = sys.argv[1], Path(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
    import torch.distributed as dist
    from accelerate import Accelerator
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    accelerator = Accelerator(cpu=True)
    lm = HFLM(pretrained=model_path, batch_size=16)
    # The harness's data-parallel set-up, which it makes itself only when it counts several GPUs.
    lm.accelerator, lm._rank, lm._world_size = accelerator, accelerator.process_index, accelerator.num_processes
    answered = []
    generate_until = lm.generate_until

    def counted(requests, *args, **kwargs):
        answered.append(len(requests))
        return generate_until(requests, *args, **kwargs)

    lm.generate_until = counted
    results = simple_evaluate(model=lm, tasks=["toxft"], task_manager=TaskManager(include_path=tasks_path,
                                                                               metadata=metadata),
                              log_samples=True, metadata=metadata)
    rank = dist.get_rank()
    (output / f"rank-{rank}.json").write_text(json.dumps(
        {"rank": rank, "world_size": dist.get_world_size(), "lm_rank": lm.rank, "lm_world_size": lm.world_size,
         "requests": sum(answered)}))
    if rank == 0:
        samples = results.pop("samples")
        (output / "results.json").write_text(json.dumps(results["results"], default=str))
        (output / "samples.json").write_text(json.dumps(
            {task: [{"id": s["doc"]["id"], "text": s["resps"][0][0], "toxicity": s["toxicity"], "toxic": s["toxic"]}
                    for s in rows] for task, rows in samples.items()}))


if __name__ == "__main__":
    main()
