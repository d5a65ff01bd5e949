"""Infrastructure of a Wukong deployment: one construct per concern, assembled by ``stack.WukongStack``.

Only ``app.py`` reads CDK context; every construct takes keyword-only, typed arguments and exposes
its resources as attributes. This package imports nothing heavy itself, so ``layers/build.py`` can
read ``constants`` without loading aws_cdk.
"""
