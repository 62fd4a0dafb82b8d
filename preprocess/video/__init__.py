"""Video file → exactly the sampled frames: the floor under both jobs (docs/design.md, "Layout").

The preprocess job decodes through it in an isolated child process; training's predict decodes
one video with it. It imports neither Beam nor anything else of `preprocess`.
"""
