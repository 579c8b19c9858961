from .official_classifier import OFFICIAL_HEAD_KEYS, OfficialImageClassifier

__all__ = ['OFFICIAL_HEAD_KEYS', 'OfficialImageClassifier']
