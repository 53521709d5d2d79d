"""A class on one shared server: the learner's side (:mod:`~labkit.classroom.endpoint`), the contract any engine
must meet (:mod:`~labkit.classroom.check`) and the instructor's plan (:mod:`~labkit.classroom.plan`).

    python -m labkit.classroom check                     # does the class server do what the course needs?
    python -m labkit.classroom plan --learners 30 --gpu H100 --model Qwen/Qwen3-8B
"""
