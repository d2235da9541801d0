"""Reading ansible-playbook's output: the recap and the first failure."""

from __future__ import annotations

from aicluster.ansible import first_failure, parse_recap

OUTPUT = """
TASK [kwok_control_plane : Create the control plane] ***************************
fatal: [demo-control-plane]: FAILED! => {"changed": true, "msg": "non-zero return code", "rc": 1}

PLAY RECAP *********************************************************************
demo-control-plane         : ok=7    changed=2    unreachable=0    failed=1    skipped=3    rescued=0    ignored=0
other                      : ok=1    changed=0    unreachable=1    failed=0    skipped=0    rescued=0    ignored=0
"""


def test_recap_is_summed_over_hosts() -> None:
    recap = parse_recap(OUTPUT)
    assert (recap.ok, recap.changed, recap.unreachable, recap.failed) == (8, 2, 1, 1)


def test_first_failure_names_task_host_and_message() -> None:
    assert first_failure(OUTPUT) == ("task 'kwok_control_plane : Create the control plane' on "
                                     "demo-control-plane: non-zero return code")


def test_no_failure() -> None:
    assert first_failure("PLAY RECAP ***\nh : ok=1 changed=0 unreachable=0 failed=0\n") is None


def test_loop_item_failures_are_found() -> None:
    output = (
        "TASK [kueue : Wait until the controller reports every ClusterQueue active] ***\n"
        'failed: [cp] (item=team-a) => {"changed": false, "msg": "not active after 120 seconds"}\n'
    )
    assert first_failure(output) == ("task 'kueue : Wait until the controller reports every "
                                     "ClusterQueue active' on cp: not active after 120 seconds")


def test_errors_before_any_task_are_found() -> None:
    output = "[ERROR]: YAML parsing failed: Colons in unquoted values must be followed by a space.\n"
    assert first_failure(output) == "YAML parsing failed: Colons in unquoted values must be followed by a space."


def test_changed_tasks_are_named() -> None:
    output = ("TASK [a : One] ***\nok: [h]\nTASK [a : Two] ***\nchanged: [h] => (item=x)\n"
              "changed: [h] => (item=y)\nTASK [b : Three] ***\nchanged: [h]\n")
    assert parse_recap(output + "PLAY RECAP ***\nh : ok=3 changed=2 unreachable=0 failed=0\n"
                       ).changed_tasks == ("a : Two", "b : Three")
