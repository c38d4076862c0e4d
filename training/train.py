"""SageMaker entry point (`sagemaker_program`): LoRA fine-tuning plus the evaluation the offline gate reads.

Hyperparameters, channels and outputs: training/README.md.
"""

import sys

from mlgov_training.job import main

if __name__ == "__main__":
    sys.exit(main())
