from .layer_decay_optim_wrapper_constructor import (BackboneLayerDecayOptimWrapperConstructor,
                                                    convnext_param_layer_id)

__all__ = ['BackboneLayerDecayOptimWrapperConstructor', 'convnext_param_layer_id']
