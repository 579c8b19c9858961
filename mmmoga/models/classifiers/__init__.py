from .official_classifier import OfficialImageClassifier

__all__ = ['OfficialImageClassifier']
