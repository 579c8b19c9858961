# The two commands of the README:
#   make demo   set up the stack, train Mask R-CNN + MogaNet on the built-in toy data, evaluate it,
#               print bbox/segm AP and draw the predictions into a PNG
#   make test   set up the stack and run the test suite
#   make lint   flake8, isort and yapf as .pre-commit-config.yaml runs them (settings in setup.cfg),
#               the model-zoo pages (docs/model_zoo/) against the metafiles, the import rules,
#               and docs/figures.md against the benchmarks' JSON and the README's quotes
#   make format rewrite the tree with isort and yapf (then `make lint` passes what they can fix)
#   make test-min-torch  the backbone tests on the lowest torch of setup.py, in a fresh venv (not
#               part of `make test`)
#   make test-onedl  the task toy tests and config-build tests on the maintained onedl-* forks of
#               OpenMMLab, in a fresh venv (not part of `make test`)
PYTHON ?= python
TOY_CONFIG := configs/mask_rcnn_moganet_xt_toy.py
TOY_WORK_DIR := work_dirs/mask_rcnn_moganet_xt_toy
TOY_IMAGES := $(foreach i,1 2 3 4 5 6 7 8,data/toy/coco/val/00000$(i).jpg)

LINT_PATHS := mmmoga tools tests configs setup.py

.PHONY: setup demo test test-min-torch test-onedl lint format

setup:
	$(PYTHON) tools/setup_env.py

demo: setup
	$(PYTHON) tools/misc/make_toy_data.py --tasks coco
	$(PYTHON) tools/train.py $(TOY_CONFIG) --work-dir $(TOY_WORK_DIR) \
		--cfg-options train_cfg.val_interval=1  # mAP after every epoch, for curves.png
	$(PYTHON) tools/test.py $(TOY_CONFIG) $$(cat $(TOY_WORK_DIR)/last_checkpoint) \
		--work-dir $(TOY_WORK_DIR) --out-json $(TOY_WORK_DIR)/toy_metrics.json
	$(PYTHON) tools/image_demo.py $(TOY_IMAGES) $(TOY_CONFIG) $$(cat $(TOY_WORK_DIR)/last_checkpoint) \
		--out $(TOY_WORK_DIR)/predictions.png
	$(PYTHON) tools/analysis/plot_logs.py $(TOY_WORK_DIR) --keys loss coco/bbox_mAP coco/segm_mAP \
		--out $(TOY_WORK_DIR)/curves.png

# tests/test_compile.py (torch.compile, several minutes of inductor builds on 2 cores) is left out:
# run it with `python -m pytest tests/test_compile.py`. The tests run in TEST_WORKERS pytest-xdist
# processes (each with its share of the cores, tests/conftest.py), handed out one test at a time.
TEST_WORKERS ?= 2
test: setup
	$(PYTHON) -m pytest tests -q -m "not compile" -n $(TEST_WORKERS) --dist worksteal

# a fresh venv in a temporary directory with only the backbone requirements and torch==X.Y.0 for
# setup.py's torch>=X.Y (tools/misc/test_min_torch.py; --torch VERSION tries another)
test-min-torch:
	$(PYTHON) tools/misc/test_min_torch.py

# a fresh venv in a temporary directory set up with `tools/setup_env.py --stack onedl`, pip's dry
# run of the documented install there, then the task tests (tools/misc/test_onedl.py)
test-onedl:
	$(PYTHON) tools/misc/test_onedl.py

lint:
	$(PYTHON) -m flake8 $(LINT_PATHS)
	$(PYTHON) -m isort --check-only --diff $(LINT_PATHS)
	$(PYTHON) -m yapf --diff --recursive --exclude "mmmoga/.mim/*" $(LINT_PATHS)
	$(PYTHON) tools/model_zoo.py docs --check
	$(PYTHON) tools/misc/check_imports.py
	$(PYTHON) tools/misc/figures.py check

format:
	$(PYTHON) -m isort $(LINT_PATHS)
	$(PYTHON) -m yapf --in-place --recursive --exclude "mmmoga/.mim/*" $(LINT_PATHS)
