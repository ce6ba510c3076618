"""RQ job functions run by the workers against Triton (the enhancement and batch pipeline).

The workers arrive with the batch-pipeline milestone; they will share
``control_plane.persistence`` (the jobs table exists already) and ``control_plane.storage``.
"""
