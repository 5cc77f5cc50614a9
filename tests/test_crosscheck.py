"""The child's training facts against the loss server's (issue 17): agreement changes nothing; a forged
count or learning rate is replaced by what the server measured, and flagged."""
from graders.judge.crosscheck import reconcile

SERVER = {"loss_calls": 600, "backward": 600, "rows": 60000, "train_rows": 60000, "refused": 0,
          "lr_first_step": 0.000999}


def _meta(lr_min=0.001, lr_max=0.001, backward=600):
    return {"probe": {"counts": {"backward": backward, "rows": 60000, "train_rows": 60000, "optimizers": [
        {"class": "Adam", "counted": True, "steps": 600, "lr_min": lr_min, "lr_max": lr_max}]}}}


def test_agreeing_facts_are_left_alone():
    meta = _meta()
    assert reconcile(meta, SERVER, "q4.train") == ""
    assert meta == _meta()
    assert reconcile(_meta(), None) == ""


def test_a_forged_learning_rate_is_replaced_by_the_first_steps():
    meta = _meta()
    flag = reconcile(meta, dict(SERVER, lr_first_step=0.003), "q4.train")
    assert flag.startswith("q4.train: training facts") and "the first step moved the parameters by 0.003" in flag
    record = meta["probe"]["counts"]["optimizers"][0]
    assert record["lr_min"] == record["lr_max"] == 0.003


def test_a_changing_learning_rate_stays_the_childs_word():
    meta = _meta(lr_min=0.0001, lr_max=0.001)
    assert reconcile(meta, dict(SERVER, lr_first_step=0.0001)) == ""
    assert meta["probe"]["counts"]["optimizers"][0]["lr_max"] == 0.001


def test_forged_counts_are_replaced():
    meta = _meta(backward=600)
    flag = reconcile(meta, dict(SERVER, backward=100, rows=10000, train_rows=10000))
    assert "backward 600 (server 100)" in flag
    assert meta["probe"]["counts"]["backward"] == 100 and meta["probe"]["counts"]["rows"] == 10000
