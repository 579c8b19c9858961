# The two commands of the README:
#   make demo   set up the stack, train Mask R-CNN + MogaNet on the built-in toy data, evaluate it,
#               print bbox/segm AP and draw the predictions into a PNG
#   make test   set up the stack and run the test suite
PYTHON ?= python
TOY_CONFIG := configs/mask_rcnn_moganet_xt_toy.py
TOY_WORK_DIR := work_dirs/mask_rcnn_moganet_xt_toy
TOY_IMAGES := $(foreach i,1 2 3 4 5 6 7 8,data/toy/coco/val/00000$(i).jpg)

.PHONY: setup demo test

setup:
	$(PYTHON) tools/setup_env.py

demo: setup
	$(PYTHON) tools/misc/make_toy_data.py --tasks coco
	$(PYTHON) tools/train.py $(TOY_CONFIG) --work-dir $(TOY_WORK_DIR)
	$(PYTHON) tools/test.py $(TOY_CONFIG) $$(cat $(TOY_WORK_DIR)/last_checkpoint) \
		--work-dir $(TOY_WORK_DIR) --out-json $(TOY_WORK_DIR)/toy_metrics.json
	$(PYTHON) tools/image_demo.py $(TOY_IMAGES) $(TOY_CONFIG) $$(cat $(TOY_WORK_DIR)/last_checkpoint) \
		--out $(TOY_WORK_DIR)/predictions.png

test: setup
	$(PYTHON) -m pytest tests -q
