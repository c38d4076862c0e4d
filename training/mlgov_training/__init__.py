"""LoRA fine-tuning of the recommendation model, and the offline evaluation the Stage-1 gate reads.

Only model.py (and smoke.py) need torch; everything the evaluation computes is plain Python.
Python >= 3.11 in the training image: transformers 5.x and numpy 2.4 require it.
"""
