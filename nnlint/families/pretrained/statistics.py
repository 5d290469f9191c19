"""The one table of input statistics that pretrained weights were trained with.

Everything the pretrained-weights family (NNL301-NNL303) knows about what a pretrained model
expects lives here, as data: the statistics families, and which torchvision builders, weights,
timm architectures and pretrained tags, Hugging Face checkpoints, CLIP loaders and
segmentation_models_pytorch encoders use which family.

Only what is known with certainty is listed. The torchvision and timm parts were read off the
libraries themselves (torchvision 0.29: every ``Weights`` enum member's ``transforms()``; timm
1.0.31: every pretrained config's ``mean``/``std``), and ``tests/test_pretrained_analysis.py``
checks them again against whatever versions are installed. A timm architecture whose pretrained
tags disagree (``vit_base_patch16_224``: ImageNet, 0.5/0.5 and CLIP tags) is listed only with
its explicit tags: the bare name depends on which tag a timm version makes the default, so its
statistics are not certain and the rules stay silent about them. The Hugging Face and CLIP
entries name checkpoint families whose preprocessing configuration is the same for every
checkpoint of the family; anything else is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, Optional, Tuple

Triple = Tuple[float, float, float]


@dataclass(frozen=True)
class Statistics:
    """Per-channel mean and std of the inputs a model was trained on, in [0, 1] pixel units (RGB)."""

    family: str
    mean: Triple
    std: Triple
    description: str

    @property
    def identity(self) -> bool:
        return self.mean == (0.0, 0.0, 0.0) and self.std == (1.0, 1.0, 1.0)


def _stats(family: str, mean: Triple, std: Triple, description: str) -> Statistics:
    return Statistics(family, mean, std, description)


STATISTICS: Dict[str, Statistics] = {
    item.family: item
    for item in (
        _stats("imagenet", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "ImageNet"),
        _stats("half", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "0.5/0.5 (inputs scaled to [-1, 1])"),
        _stats("openai_clip", (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711), "OpenAI CLIP"),
        _stats("identity", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "no normalization ([0, 1] inputs)"),
        _stats("dpn", (124 / 255, 117 / 255, 104 / 255), (0.234824, 0.234824, 0.234824), "DPN (MXNet)"),
        _stats("kinetics", (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989), "Kinetics-400"),
        _stats("kinetics_mvit", (0.45, 0.45, 0.45), (0.225, 0.225, 0.225), "Kinetics-400 (MViT)"),
        _stats("vgg16_features", (0.48235, 0.45882, 0.40784), (1 / 255, 1 / 255, 1 / 255), "VGG16 IMAGENET1K_FEATURES (0-255 inputs minus the mean)"),
    )
}

# Families of models that normalize their own input inside the model: the input pipeline must
# not (torchvision detection models: GeneralizedRCNNTransform, also used by RetinaNet, FCOS, SSD).
INTERNAL = "internal"
# Weights whose statistics no table here states (optical flow: RAFT's presets scale to [-1, 1]).
UNKNOWN = "unknown"

# torchvision builder -> (its Weights enum, the family of its DEFAULT weights)
TORCHVISION_BUILDERS: Dict[str, Tuple[str, str]] = {
    "alexnet": ("AlexNet_Weights", "imagenet"),
    "convnext_base": ("ConvNeXt_Base_Weights", "imagenet"),
    "convnext_large": ("ConvNeXt_Large_Weights", "imagenet"),
    "convnext_small": ("ConvNeXt_Small_Weights", "imagenet"),
    "convnext_tiny": ("ConvNeXt_Tiny_Weights", "imagenet"),
    "deeplabv3_mobilenet_v3_large": ("DeepLabV3_MobileNet_V3_Large_Weights", "imagenet"),
    "deeplabv3_resnet101": ("DeepLabV3_ResNet101_Weights", "imagenet"),
    "deeplabv3_resnet50": ("DeepLabV3_ResNet50_Weights", "imagenet"),
    "densenet121": ("DenseNet121_Weights", "imagenet"),
    "densenet161": ("DenseNet161_Weights", "imagenet"),
    "densenet169": ("DenseNet169_Weights", "imagenet"),
    "densenet201": ("DenseNet201_Weights", "imagenet"),
    "efficientnet_b0": ("EfficientNet_B0_Weights", "imagenet"),
    "efficientnet_b1": ("EfficientNet_B1_Weights", "imagenet"),
    "efficientnet_b2": ("EfficientNet_B2_Weights", "imagenet"),
    "efficientnet_b3": ("EfficientNet_B3_Weights", "imagenet"),
    "efficientnet_b4": ("EfficientNet_B4_Weights", "imagenet"),
    "efficientnet_b5": ("EfficientNet_B5_Weights", "imagenet"),
    "efficientnet_b6": ("EfficientNet_B6_Weights", "imagenet"),
    "efficientnet_b7": ("EfficientNet_B7_Weights", "imagenet"),
    "efficientnet_v2_l": ("EfficientNet_V2_L_Weights", "half"),
    "efficientnet_v2_m": ("EfficientNet_V2_M_Weights", "imagenet"),
    "efficientnet_v2_s": ("EfficientNet_V2_S_Weights", "imagenet"),
    "fasterrcnn_mobilenet_v3_large_320_fpn": ("FasterRCNN_MobileNet_V3_Large_320_FPN_Weights", "internal"),
    "fasterrcnn_mobilenet_v3_large_fpn": ("FasterRCNN_MobileNet_V3_Large_FPN_Weights", "internal"),
    "fasterrcnn_resnet50_fpn": ("FasterRCNN_ResNet50_FPN_Weights", "internal"),
    "fasterrcnn_resnet50_fpn_v2": ("FasterRCNN_ResNet50_FPN_V2_Weights", "internal"),
    "fcn_resnet101": ("FCN_ResNet101_Weights", "imagenet"),
    "fcn_resnet50": ("FCN_ResNet50_Weights", "imagenet"),
    "fcos_resnet50_fpn": ("FCOS_ResNet50_FPN_Weights", "internal"),
    "googlenet": ("GoogLeNet_Weights", "imagenet"),
    "inception_v3": ("Inception_V3_Weights", "imagenet"),
    "keypointrcnn_resnet50_fpn": ("KeypointRCNN_ResNet50_FPN_Weights", "internal"),
    "lraspp_mobilenet_v3_large": ("LRASPP_MobileNet_V3_Large_Weights", "imagenet"),
    "maskrcnn_resnet50_fpn": ("MaskRCNN_ResNet50_FPN_Weights", "internal"),
    "maskrcnn_resnet50_fpn_v2": ("MaskRCNN_ResNet50_FPN_V2_Weights", "internal"),
    "maxvit_t": ("MaxVit_T_Weights", "imagenet"),
    "mc3_18": ("MC3_18_Weights", "kinetics"),
    "mnasnet0_5": ("MNASNet0_5_Weights", "imagenet"),
    "mnasnet0_75": ("MNASNet0_75_Weights", "imagenet"),
    "mnasnet1_0": ("MNASNet1_0_Weights", "imagenet"),
    "mnasnet1_3": ("MNASNet1_3_Weights", "imagenet"),
    "mobilenet_v2": ("MobileNet_V2_Weights", "imagenet"),
    "mobilenet_v3_large": ("MobileNet_V3_Large_Weights", "imagenet"),
    "mobilenet_v3_small": ("MobileNet_V3_Small_Weights", "imagenet"),
    "mvit_v1_b": ("MViT_V1_B_Weights", "kinetics_mvit"),
    "mvit_v2_s": ("MViT_V2_S_Weights", "kinetics_mvit"),
    "quantized_googlenet": ("GoogLeNet_QuantizedWeights", "imagenet"),
    "quantized_inception_v3": ("Inception_V3_QuantizedWeights", "imagenet"),
    "quantized_mobilenet_v2": ("MobileNet_V2_QuantizedWeights", "imagenet"),
    "quantized_mobilenet_v3_large": ("MobileNet_V3_Large_QuantizedWeights", "imagenet"),
    "quantized_resnet18": ("ResNet18_QuantizedWeights", "imagenet"),
    "quantized_resnet50": ("ResNet50_QuantizedWeights", "imagenet"),
    "quantized_resnext101_32x8d": ("ResNeXt101_32X8D_QuantizedWeights", "imagenet"),
    "quantized_resnext101_64x4d": ("ResNeXt101_64X4D_QuantizedWeights", "imagenet"),
    "quantized_shufflenet_v2_x0_5": ("ShuffleNet_V2_X0_5_QuantizedWeights", "imagenet"),
    "quantized_shufflenet_v2_x1_0": ("ShuffleNet_V2_X1_0_QuantizedWeights", "imagenet"),
    "quantized_shufflenet_v2_x1_5": ("ShuffleNet_V2_X1_5_QuantizedWeights", "imagenet"),
    "quantized_shufflenet_v2_x2_0": ("ShuffleNet_V2_X2_0_QuantizedWeights", "imagenet"),
    "r2plus1d_18": ("R2Plus1D_18_Weights", "kinetics"),
    "r3d_18": ("R3D_18_Weights", "kinetics"),
    "raft_large": ("Raft_Large_Weights", "unknown"),
    "raft_small": ("Raft_Small_Weights", "unknown"),
    "regnet_x_16gf": ("RegNet_X_16GF_Weights", "imagenet"),
    "regnet_x_1_6gf": ("RegNet_X_1_6GF_Weights", "imagenet"),
    "regnet_x_32gf": ("RegNet_X_32GF_Weights", "imagenet"),
    "regnet_x_3_2gf": ("RegNet_X_3_2GF_Weights", "imagenet"),
    "regnet_x_400mf": ("RegNet_X_400MF_Weights", "imagenet"),
    "regnet_x_800mf": ("RegNet_X_800MF_Weights", "imagenet"),
    "regnet_x_8gf": ("RegNet_X_8GF_Weights", "imagenet"),
    "regnet_y_128gf": ("RegNet_Y_128GF_Weights", "imagenet"),
    "regnet_y_16gf": ("RegNet_Y_16GF_Weights", "imagenet"),
    "regnet_y_1_6gf": ("RegNet_Y_1_6GF_Weights", "imagenet"),
    "regnet_y_32gf": ("RegNet_Y_32GF_Weights", "imagenet"),
    "regnet_y_3_2gf": ("RegNet_Y_3_2GF_Weights", "imagenet"),
    "regnet_y_400mf": ("RegNet_Y_400MF_Weights", "imagenet"),
    "regnet_y_800mf": ("RegNet_Y_800MF_Weights", "imagenet"),
    "regnet_y_8gf": ("RegNet_Y_8GF_Weights", "imagenet"),
    "resnet101": ("ResNet101_Weights", "imagenet"),
    "resnet152": ("ResNet152_Weights", "imagenet"),
    "resnet18": ("ResNet18_Weights", "imagenet"),
    "resnet34": ("ResNet34_Weights", "imagenet"),
    "resnet50": ("ResNet50_Weights", "imagenet"),
    "resnext101_32x8d": ("ResNeXt101_32X8D_Weights", "imagenet"),
    "resnext101_64x4d": ("ResNeXt101_64X4D_Weights", "imagenet"),
    "resnext50_32x4d": ("ResNeXt50_32X4D_Weights", "imagenet"),
    "retinanet_resnet50_fpn": ("RetinaNet_ResNet50_FPN_Weights", "internal"),
    "retinanet_resnet50_fpn_v2": ("RetinaNet_ResNet50_FPN_V2_Weights", "internal"),
    "s3d": ("S3D_Weights", "kinetics"),
    "shufflenet_v2_x0_5": ("ShuffleNet_V2_X0_5_Weights", "imagenet"),
    "shufflenet_v2_x1_0": ("ShuffleNet_V2_X1_0_Weights", "imagenet"),
    "shufflenet_v2_x1_5": ("ShuffleNet_V2_X1_5_Weights", "imagenet"),
    "shufflenet_v2_x2_0": ("ShuffleNet_V2_X2_0_Weights", "imagenet"),
    "squeezenet1_0": ("SqueezeNet1_0_Weights", "imagenet"),
    "squeezenet1_1": ("SqueezeNet1_1_Weights", "imagenet"),
    "ssd300_vgg16": ("SSD300_VGG16_Weights", "internal"),
    "ssdlite320_mobilenet_v3_large": ("SSDLite320_MobileNet_V3_Large_Weights", "internal"),
    "swin3d_b": ("Swin3D_B_Weights", "imagenet"),
    "swin3d_s": ("Swin3D_S_Weights", "imagenet"),
    "swin3d_t": ("Swin3D_T_Weights", "imagenet"),
    "swin_b": ("Swin_B_Weights", "imagenet"),
    "swin_s": ("Swin_S_Weights", "imagenet"),
    "swin_t": ("Swin_T_Weights", "imagenet"),
    "swin_v2_b": ("Swin_V2_B_Weights", "imagenet"),
    "swin_v2_s": ("Swin_V2_S_Weights", "imagenet"),
    "swin_v2_t": ("Swin_V2_T_Weights", "imagenet"),
    "vgg11": ("VGG11_Weights", "imagenet"),
    "vgg11_bn": ("VGG11_BN_Weights", "imagenet"),
    "vgg13": ("VGG13_Weights", "imagenet"),
    "vgg13_bn": ("VGG13_BN_Weights", "imagenet"),
    "vgg16": ("VGG16_Weights", "imagenet"),
    "vgg16_bn": ("VGG16_BN_Weights", "imagenet"),
    "vgg19": ("VGG19_Weights", "imagenet"),
    "vgg19_bn": ("VGG19_BN_Weights", "imagenet"),
    "vit_b_16": ("ViT_B_16_Weights", "imagenet"),
    "vit_b_32": ("ViT_B_32_Weights", "imagenet"),
    "vit_h_14": ("ViT_H_14_Weights", "imagenet"),
    "vit_l_16": ("ViT_L_16_Weights", "imagenet"),
    "vit_l_32": ("ViT_L_32_Weights", "imagenet"),
    "wide_resnet101_2": ("Wide_ResNet101_2_Weights", "imagenet"),
    "wide_resnet50_2": ("Wide_ResNet50_2_Weights", "imagenet"),
}
# weights of a builder whose statistics differ from its DEFAULT weights
TORCHVISION_WEIGHT_EXCEPTIONS: Dict[str, str] = {
    "VGG16_Weights.IMAGENET1K_FEATURES": "vgg16_features",
}

# timm architectures whose every pretrained tag uses the same family
TIMM_ARCHITECTURES: Dict[str, FrozenSet[str]] = {
    "openai_clip": frozenset(
        """
        aimv2_1b_patch14_224 aimv2_1b_patch14_336 aimv2_1b_patch14_448 aimv2_3b_patch14_224
        aimv2_3b_patch14_336 aimv2_3b_patch14_448 aimv2_huge_patch14_224 aimv2_huge_patch14_336
        aimv2_huge_patch14_448 aimv2_large_patch14_224 aimv2_large_patch14_336
        aimv2_large_patch14_448 convnext_large_mlp convnext_xxlarge eva02_base_patch14_224
        eva02_base_patch14_448 eva02_base_patch16_clip_224 eva02_enormous_patch14_clip_224
        eva02_large_patch14_224 eva02_large_patch14_448 eva02_large_patch14_clip_224
        eva02_large_patch14_clip_336 eva02_small_patch14_224 eva02_small_patch14_336
        eva02_tiny_patch14_224 eva02_tiny_patch14_336 eva_giant_patch14_224
        eva_giant_patch14_clip_224 eva_large_patch14_196 eva_large_patch14_336 fastvit_mci3
        fastvit_mci4 naflexvit_base_patch16_radio_v3 naflexvit_giant_patch16_radio_v3
        naflexvit_huge_patch16_radio_v3 naflexvit_huge_patch16_radio_v4
        naflexvit_large_patch16_radio_v3 naflexvit_so400m_patch16_radio_v4 resnet101_clip
        resnet101_clip_gap resnet50_clip resnet50_clip_gap resnet50x16_clip resnet50x16_clip_gap
        resnet50x4_clip resnet50x4_clip_gap resnet50x64_clip resnet50x64_clip_gap
        vit_base_patch16_clip_224 vit_base_patch16_clip_384 vit_base_patch16_clip_quickgelu_224
        vit_base_patch16_plus_clip_240 vit_base_patch16_radio_v3 vit_base_patch32_clip_224
        vit_base_patch32_clip_256 vit_base_patch32_clip_384 vit_base_patch32_clip_448
        vit_base_patch32_clip_quickgelu_224 vit_betwixt_patch16_rope_reg4_gap_256
        vit_betwixt_patch32_clip_224 vit_giant_patch14_clip_224 vit_giant_patch16_radio_v3
        vit_gigantic_patch14_clip_224 vit_gigantic_patch14_clip_378
        vit_gigantic_patch14_clip_quickgelu_224 vit_huge_patch14_clip_224 vit_huge_patch14_clip_336
        vit_huge_patch14_clip_378 vit_huge_patch14_clip_quickgelu_224
        vit_huge_patch14_clip_quickgelu_378 vit_huge_patch16_radio_v3 vit_huge_patch16_radio_v4
        vit_large_patch14_clip_quickgelu_224 vit_large_patch14_clip_quickgelu_336
        vit_large_patch16_radio_v3 vit_medium_patch16_clip_224 vit_medium_patch32_clip_224
        vit_so400m_patch16_radio_v4 vit_xsmall_patch16_clip_224 vitamin_base_224 vitamin_large2_224
        vitamin_large2_256 vitamin_large2_336 vitamin_large2_384 vitamin_large_224 vitamin_large_256
        vitamin_large_336 vitamin_large_384 vitamin_small_224 vitamin_xlarge_256 vitamin_xlarge_336
        vitamin_xlarge_384
        """.split()
    ),
    "imagenet": frozenset(
        """
        bat_resnext26ts beit3_base_patch16_224 beit3_giant_patch14_224 beit3_giant_patch14_336
        beit3_large_patch16_224 beitv2_base_patch16_224 beitv2_large_patch16_224 botnet26t_256
        botnet50ts_256 caformer_b36 caformer_m36 caformer_s18 caformer_s36 cait_m36_384 cait_m48_448
        cait_s24_224 cait_s24_384 cait_s36_384 cait_xs24_384 cait_xxs24_224 cait_xxs24_384
        cait_xxs36_224 cait_xxs36_384 coat_lite_medium coat_lite_medium_384 coat_lite_mini
        coat_lite_small coat_lite_tiny coat_mini coat_small coat_tiny coatnet_bn_0_rw_224
        convformer_b36 convformer_m36 convformer_s18 convformer_s36 convit_base convit_small
        convit_tiny convmixer_1024_20_ks9_p14 convmixer_1536_20 convmixer_768_32 convnext_atto
        convnext_atto_ols convnext_atto_rms convnext_femto convnext_femto_ols convnext_large
        convnext_nano convnext_nano_ols convnext_pico convnext_pico_ols convnext_small convnext_tiny
        convnext_tiny_hnf convnext_xlarge convnextv2_atto convnextv2_base convnextv2_femto
        convnextv2_huge convnextv2_large convnextv2_nano convnextv2_pico convnextv2_small
        convnextv2_tiny cpubone_b0_bfrobust cpubone_b1_bfrobust cpubone_b1_dwnorm
        cpubone_b2_bfrobust cpubone_b2pt5_dwnorm cpubone_b3 cpubone_nano cpubone_s0 cpubone_t0
        crossvit_15_240 crossvit_15_dagger_240 crossvit_15_dagger_408 crossvit_18_240
        crossvit_18_dagger_240 crossvit_18_dagger_408 crossvit_9_240 crossvit_9_dagger_240
        crossvit_base_240 crossvit_small_240 crossvit_tiny_240 cs3darknet_focus_l cs3darknet_focus_m
        cs3darknet_focus_x cs3darknet_l cs3darknet_m cs3darknet_s cs3darknet_x cs3edgenet_x
        cs3se_edgenet_x cs3sedarknet_l cs3sedarknet_x cs3sedarknet_xdw csatv2 csatv2_21m
        cspdarknet53 cspnext_l cspnext_m cspnext_s cspnext_tiny cspnext_x cspresnet50 cspresnet50d
        cspresnet50w cspresnext50 darknet17 darknet21 darknet53 darknetaa53 davit_base davit_base_fl
        davit_giant davit_huge davit_huge_fl davit_large davit_small davit_tiny
        deit3_base_patch16_224 deit3_base_patch16_384 deit3_huge_patch14_224 deit3_large_patch16_224
        deit3_large_patch16_384 deit3_medium_patch16_224 deit3_small_patch16_224
        deit3_small_patch16_384 deit_base_distilled_patch16_224 deit_base_distilled_patch16_384
        deit_base_patch16_224 deit_base_patch16_384 deit_small_distilled_patch16_224
        deit_small_patch16_224 deit_tiny_distilled_patch16_224 deit_tiny_patch16_224 densenet121
        densenet161 densenet169 densenet201 densenet264d densenetblur121d dla102 dla102x dla102x2
        dla169 dla34 dla46_c dla46x_c dla60 dla60_res2net dla60_res2next dla60x dla60x_c dm_nfnet_f0
        dm_nfnet_f1 dm_nfnet_f2 dm_nfnet_f3 dm_nfnet_f4 dm_nfnet_f5 dm_nfnet_f6 dpn48b
        eca_botnext26ts_256 eca_halonext26ts eca_nfnet_l0 eca_nfnet_l1 eca_nfnet_l2 eca_nfnet_l3
        eca_resnet33ts eca_resnext26ts eca_vovnet39b ecaresnet101d ecaresnet101d_pruned
        ecaresnet200d ecaresnet269d ecaresnet26t ecaresnet50d ecaresnet50d_pruned ecaresnet50t
        ecaresnetlight ecaresnext26t_32x4d ecaresnext50t_32x4d edgenext_base edgenext_small
        edgenext_small_rw edgenext_x_small edgenext_xx_small efficientformer_l1 efficientformer_l3
        efficientformer_l7 efficientformerv2_l efficientformerv2_s0 efficientformerv2_s1
        efficientformerv2_s2 efficientnet_b0_g16_evos efficientnet_b0_g8_gn efficientnet_b0_gn
        efficientnet_b2 efficientnet_b3 efficientnet_b3_g8_gn efficientnet_b3_gn efficientnet_b4
        efficientnet_b5 efficientnet_b6 efficientnet_b7 efficientnet_b8 efficientnet_blur_b0
        efficientnet_cc_b0_4e efficientnet_cc_b0_8e efficientnet_cc_b1_8e efficientnet_el
        efficientnet_el_pruned efficientnet_em efficientnet_es efficientnet_es_pruned
        efficientnet_h_b5 efficientnet_l2 efficientnet_lite0 efficientnet_lite1 efficientnet_lite2
        efficientnet_lite3 efficientnet_lite4 efficientnet_x_b3 efficientnet_x_b5 efficientnetv2_l
        efficientnetv2_m efficientnetv2_rw_m efficientnetv2_rw_s efficientnetv2_rw_t
        efficientnetv2_s efficientnetv2_xl efficientvim_m1 efficientvim_m1_dist efficientvim_m2
        efficientvim_m2_dist efficientvim_m3 efficientvim_m3_dist efficientvim_m4
        efficientvim_m4_dist efficientvit_b0 efficientvit_b1 efficientvit_b2 efficientvit_b3
        efficientvit_l1 efficientvit_l2 efficientvit_l3 efficientvit_m0 efficientvit_m1
        efficientvit_m2 efficientvit_m3 efficientvit_m4 efficientvit_m5 ese_vovnet19b_dw
        ese_vovnet19b_slim ese_vovnet19b_slim_dw ese_vovnet39b ese_vovnet39b_evos ese_vovnet99b
        eva_giant_patch14_560 fasternet_l fasternet_m fasternet_s fasternet_t0 fasternet_t1
        fasternet_t2 fastvit_ma36 fastvit_s12 fastvit_sa12 fastvit_sa24 fastvit_sa36 fastvit_t12
        fastvit_t8 fbnetc_100 fbnetv3_b fbnetv3_d fbnetv3_g focalnet_base_lrf focalnet_base_srf
        focalnet_huge_fl3 focalnet_huge_fl4 focalnet_large_fl3 focalnet_large_fl4 focalnet_small_lrf
        focalnet_small_srf focalnet_tiny_lrf focalnet_tiny_srf focalnet_xlarge_fl3
        focalnet_xlarge_fl4 gc_efficientnetv2_rw_t gcresnet33ts gcresnet50t gcresnext26ts
        gcresnext50ts gcvit_base gcvit_small gcvit_tiny gcvit_xtiny gcvit_xxtiny gernet_l gernet_m
        gernet_s ghostnet_050 ghostnet_100 ghostnet_130 ghostnetv2_100 ghostnetv2_130 ghostnetv2_160
        ghostnetv3_050 ghostnetv3_100 ghostnetv3_130 ghostnetv3_160 gmixer_12_224 gmixer_24_224
        halo2botnet50ts_256 halonet26t halonet50ts halonet_h1 hardcorenas_a hardcorenas_b
        hardcorenas_c hardcorenas_d hardcorenas_e hardcorenas_f hgnet_base hgnet_small hgnet_tiny
        hgnetv2_b0 hgnetv2_b1 hgnetv2_b2 hgnetv2_b3 hgnetv2_b4 hgnetv2_b5 hgnetv2_b6 hiera_base_224
        hiera_base_abswin_256 hiera_base_plus_224 hiera_huge_224 hiera_large_224 hiera_small_224
        hiera_small_abswin_256 hiera_tiny_224 hieradet_small hrnet_w18 hrnet_w18_small
        hrnet_w18_small_v2 hrnet_w18_ssld hrnet_w30 hrnet_w32 hrnet_w40 hrnet_w44 hrnet_w48
        hrnet_w48_ssld hrnet_w64 iformer_h iformer_l iformer_l2 iformer_l2_distilled
        iformer_l_distilled iformer_m iformer_m_distilled iformer_s iformer_t inception_next_atto
        inception_next_base inception_next_small inception_next_tiny lambda_resnet26rpt_256
        lambda_resnet26t lambda_resnet50ts lamhalobotnet50ts_256 lcnet_035 lcnet_050 lcnet_075
        lcnet_100 lcnet_150 lcnetv2_base lcnetv2_large lcnetv2_small legacy_senet154
        legacy_seresnet101 legacy_seresnet152 legacy_seresnet18 legacy_seresnet34 legacy_seresnet50
        legacy_seresnext101_32x4d legacy_seresnext26_32x4d legacy_seresnext50_32x4d levit_128
        levit_128s levit_192 levit_256 levit_256d levit_384 levit_384_s8 levit_512 levit_512_s8
        levit_512d levit_conv_128 levit_conv_128s levit_conv_192 levit_conv_256 levit_conv_256d
        levit_conv_384 levit_conv_384_s8 levit_conv_512 levit_conv_512_s8 levit_conv_512d
        lowformer_b0 lowformer_b1 lowformer_b15 lowformer_b2 lowformer_b3 lowformer_e1 lowformer_e2
        lowformer_e3 mambaout_base mambaout_base_plus_rw mambaout_base_short_rw
        mambaout_base_tall_rw mambaout_base_wide_rw mambaout_femto mambaout_kobe mambaout_small
        mambaout_small_rw mambaout_tiny maxvit_small_tf_224 maxvit_tiny_tf_224 mixnet_l mixnet_m
        mixnet_s mixnet_xl mixnet_xxl mnasnet_050 mnasnet_075 mnasnet_100 mnasnet_140 mnasnet_small
        mobilenet_edgetpu_100 mobilenet_edgetpu_v2_l mobilenet_edgetpu_v2_s mobilenet_edgetpu_v2_xs
        mobilenetv2_035 mobilenetv2_050 mobilenetv2_075 mobilenetv2_100 mobilenetv2_110d
        mobilenetv2_120d mobilenetv2_140 mobilenetv3_large_075 mobilenetv3_rw mobilenetv3_small_050
        mobilenetv3_small_075 mobilenetv3_small_100 mobilenetv4_conv_aa_large
        mobilenetv4_conv_aa_medium mobilenetv4_conv_blur_medium mobilenetv4_conv_large
        mobilenetv4_conv_medium mobilenetv4_hybrid_large mobilenetv4_hybrid_large_075
        mobilenetv4_hybrid_medium mobilenetv4_hybrid_medium_075 mobileone_s0 mobileone_s1
        mobileone_s2 mobileone_s3 mobileone_s4 mvitv2_base mvitv2_base_cls mvitv2_huge_cls
        mvitv2_large mvitv2_large_cls mvitv2_small mvitv2_small_cls mvitv2_tiny nest_base
        nest_base_jx nest_small nest_small_jx nest_tiny nest_tiny_jx nextvit_base nextvit_large
        nextvit_small nf_ecaresnet101 nf_ecaresnet26 nf_ecaresnet50 nf_regnet_b0 nf_regnet_b1
        nf_regnet_b2 nf_regnet_b3 nf_regnet_b4 nf_regnet_b5 nf_resnet101 nf_resnet26 nf_resnet50
        nf_seresnet101 nf_seresnet26 nf_seresnet50 nfnet_f0 nfnet_f1 nfnet_f2 nfnet_f3 nfnet_f4
        nfnet_f5 nfnet_f6 nfnet_f7 nfnet_l0 pit_b_224 pit_b_distilled_224 pit_s_224
        pit_s_distilled_224 pit_ti_224 pit_ti_distilled_224 pit_xs_224 pit_xs_distilled_224
        poolformer_m36 poolformer_m48 poolformer_s12 poolformer_s24 poolformer_s36 poolformerv2_m36
        poolformerv2_m48 poolformerv2_s12 poolformerv2_s24 poolformerv2_s36 pvt_v2_b0 pvt_v2_b1
        pvt_v2_b2 pvt_v2_b2_li pvt_v2_b3 pvt_v2_b4 pvt_v2_b5 rdnet_base rdnet_large rdnet_small
        rdnet_tiny regnetv_040 regnetv_064 regnetx_002 regnetx_004 regnetx_004_tv regnetx_006
        regnetx_008 regnetx_016 regnetx_032 regnetx_040 regnetx_064 regnetx_080 regnetx_120
        regnetx_160 regnetx_320 regnety_002 regnety_004 regnety_006 regnety_008 regnety_008_tv
        regnety_016 regnety_032 regnety_040 regnety_040_sgn regnety_064 regnety_080 regnety_080_tv
        regnety_120 regnety_1280 regnety_160 regnety_2560 regnety_320 regnety_640 regnetz_005
        regnetz_040 regnetz_040_h repghostnet_050 repghostnet_058 repghostnet_080 repghostnet_100
        repghostnet_111 repghostnet_130 repghostnet_150 repghostnet_200 repvgg_a0 repvgg_a1
        repvgg_a2 repvgg_b0 repvgg_b1 repvgg_b1g4 repvgg_b2 repvgg_b2g4 repvgg_b3 repvgg_b3g4
        repvgg_d2se repvit_m0_9 repvit_m1 repvit_m1_0 repvit_m1_1 repvit_m1_5 repvit_m2 repvit_m2_3
        repvit_m3 res2net101_26w_4s res2net101d res2net50_14w_8s res2net50_26w_4s res2net50_26w_6s
        res2net50_26w_8s res2net50_48w_2s res2net50d res2next50 resmlp_12_224 resmlp_24_224
        resmlp_36_224 resmlp_big_24_224 resnest101e resnest14d resnest200e resnest269e resnest26d
        resnest50d resnest50d_1s4x24d resnest50d_4s2x40d resnet101 resnet101c resnet101d resnet101s
        resnet10t resnet14t resnet152 resnet152c resnet152d resnet152s resnet18 resnet200 resnet200d
        resnet26 resnet26d resnet26t resnet32ts resnet33ts resnet34d resnet50 resnet50_gn
        resnet50_mlp resnet50c resnet50s resnet50t resnet51q resnet61q resnetaa101d resnetaa34d
        resnetaa50 resnetaa50d resnetblur101d resnetblur18 resnetblur50 resnetblur50d resnetrs101
        resnetrs152 resnetrs200 resnetrs270 resnetrs350 resnetrs420 resnetrs50 resnext101_32x16d
        resnext101_32x32d resnext101_32x4d resnext101_32x8d resnext101_64x4d resnext26ts
        resnext50_32x4d resnext50d_32x4d rexnet_100 rexnet_130 rexnet_150 rexnet_200 rexnet_300
        rexnetr_100 rexnetr_130 rexnetr_150 rexnetr_200 rexnetr_300 sam2_hiera_base_plus
        sam2_hiera_large sam2_hiera_small sam2_hiera_tiny samvit_base_patch16
        samvit_base_patch16_224 samvit_huge_patch16 samvit_large_patch16 sebotnet33ts_256
        sedarknet21 sehalonet33ts selecsls42 selecsls42b selecsls60 selecsls60b selecsls84
        semnasnet_050 semnasnet_075 semnasnet_100 semnasnet_140 senet154 sequencer2d_l sequencer2d_m
        sequencer2d_s seresnet101 seresnet152 seresnet152d seresnet18 seresnet200d seresnet269d
        seresnet33ts seresnet34 seresnet50 seresnet50t seresnetaa50d seresnext101_32x4d
        seresnext101_32x8d seresnext101_64x4d seresnext101d_32x8d seresnext26d_32x4d
        seresnext26t_32x4d seresnext26ts seresnext50_32x4d seresnextaa101d_32x8d
        seresnextaa201d_32x8d shvit_s1 shvit_s2 shvit_s3 shvit_s4 skresnet18 skresnet34 skresnet50
        skresnet50d skresnext50_32x4d spnasnet_100 starnet_s050 starnet_s1 starnet_s100 starnet_s150
        starnet_s2 starnet_s3 starnet_s4 swiftformer_l1 swiftformer_l3 swiftformer_s swiftformer_xs
        swin_base_patch4_window12_384 swin_base_patch4_window7_224 swin_large_patch4_window12_384
        swin_large_patch4_window7_224 swin_s3_base_224 swin_s3_small_224 swin_s3_tiny_224
        swin_small_patch4_window7_224 swin_tiny_patch4_window7_224 swinv2_base_window12_192
        swinv2_base_window12to16_192to256 swinv2_base_window12to24_192to384 swinv2_base_window16_256
        swinv2_base_window8_256 swinv2_cr_base_224 swinv2_cr_base_384 swinv2_cr_base_ns_224
        swinv2_cr_giant_224 swinv2_cr_giant_384 swinv2_cr_huge_224 swinv2_cr_huge_384
        swinv2_cr_large_224 swinv2_cr_large_384 swinv2_cr_small_224 swinv2_cr_small_384
        swinv2_cr_small_ns_224 swinv2_cr_small_ns_256 swinv2_cr_tiny_224 swinv2_cr_tiny_384
        swinv2_cr_tiny_ns_224 swinv2_large_window12_192 swinv2_large_window12to16_192to256
        swinv2_large_window12to24_192to384 swinv2_small_window16_256 swinv2_small_window8_256
        swinv2_tiny_window16_256 swinv2_tiny_window8_256 test_byobnet test_efficientnet
        test_efficientnet_ln test_mambaout tf_efficientnet_l2 tf_efficientnetv2_b0
        tf_efficientnetv2_b1 tf_efficientnetv2_b2 tf_mixnet_l tf_mixnet_m tf_mixnet_s
        tiny_vit_11m_224 tiny_vit_21m_224 tiny_vit_21m_384 tiny_vit_21m_512 tiny_vit_5m_224
        tinynet_a tinynet_b tinynet_c tinynet_d tinynet_e twins_pcpvt_base twins_pcpvt_large
        twins_pcpvt_small twins_svt_base twins_svt_large twins_svt_small vgg11 vgg11_bn vgg13
        vgg13_bn vgg16 vgg16_bn vgg19 vgg19_bn visformer_small visformer_tiny
        vit_5b_patch16_sapiens2 vit_base_patch14_dinov2 vit_base_patch14_reg4_dinov2
        vit_base_patch16_dinov3 vit_base_patch16_dinov3_qkvb vit_base_patch16_lingbot
        vit_base_patch16_rope_224 vit_base_patch16_rope_ape_224 vit_base_patch16_rope_mixed_224
        vit_base_patch16_rope_mixed_ape_224 vit_base_patch16_sapiens2 vit_base_resnet26d_224
        vit_base_resnet50d_224 vit_giant_patch14_dinov2 vit_giant_patch14_reg4_dinov2
        vit_giant_patch16_gap_224 vit_giant_patch16_lingbot vit_giant_patch16_sapiens2
        vit_huge_patch14_gap_224 vit_huge_patch16_gap_448 vit_huge_patch16_sapiens2
        vit_huge_plus_patch16_dinov3 vit_huge_plus_patch16_dinov3_qkvb vit_intern300m_patch14_448
        vit_large_patch14_dinov2 vit_large_patch14_reg4_dinov2 vit_large_patch16_lingbot
        vit_large_patch16_rope_224 vit_large_patch16_rope_ape_224 vit_large_patch16_rope_mixed_224
        vit_large_patch16_rope_mixed_ape_224 vit_large_patch16_sapiens2 vit_small_patch14_dinov2
        vit_small_patch14_reg4_dinov2 vit_small_patch16_dinov3 vit_small_patch16_dinov3_qkvb
        vit_small_patch16_lingbot vit_small_patch16_rope_224 vit_small_patch16_rope_ape_224
        vit_small_patch16_rope_mixed_224 vit_small_patch16_rope_mixed_ape_224 vit_small_patch8_224
        vit_small_plus_patch16_dinov3 vit_small_plus_patch16_dinov3_qkvb vit_small_resnet26d_224
        vit_small_resnet50d_s16_224 vit_tiny_patch16_dinov3_qkvb volo_d1_224 volo_d1_384 volo_d2_224
        volo_d2_384 volo_d3_224 volo_d3_448 volo_d4_224 volo_d4_448 volo_d5_224 volo_d5_448
        volo_d5_512 vovnet39a vovnet57a wide_resnet101_2 wide_resnet50_2 xcit_large_24_p16_224
        xcit_large_24_p16_384 xcit_large_24_p8_224 xcit_large_24_p8_384 xcit_medium_24_p16_224
        xcit_medium_24_p16_384 xcit_medium_24_p8_224 xcit_medium_24_p8_384 xcit_nano_12_p16_224
        xcit_nano_12_p16_384 xcit_nano_12_p8_224 xcit_nano_12_p8_384 xcit_small_12_p16_224
        xcit_small_12_p16_384 xcit_small_12_p8_224 xcit_small_12_p8_384 xcit_small_24_p16_224
        xcit_small_24_p16_384 xcit_small_24_p8_224 xcit_small_24_p8_384 xcit_tiny_12_p16_224
        xcit_tiny_12_p16_384 xcit_tiny_12_p8_224 xcit_tiny_12_p8_384 xcit_tiny_24_p16_224
        xcit_tiny_24_p16_384 xcit_tiny_24_p8_224 xcit_tiny_24_p8_384
        """.split()
    ),
    "half": frozenset(
        """
        beit_base_patch16_224 beit_base_patch16_384 beit_large_patch16_224 beit_large_patch16_384
        beit_large_patch16_512 coatnet_0_224 coatnet_0_rw_224 coatnet_1_224 coatnet_1_rw_224
        coatnet_2_224 coatnet_2_rw_224 coatnet_3_224 coatnet_3_rw_224 coatnet_4_224 coatnet_5_224
        coatnet_nano_cc_224 coatnet_nano_rw_224 coatnet_pico_rw_224 coatnet_rmlp_0_rw_224
        coatnet_rmlp_1_rw2_224 coatnet_rmlp_1_rw_224 coatnet_rmlp_2_rw_224 coatnet_rmlp_2_rw_384
        coatnet_rmlp_3_rw_224 coatnet_rmlp_nano_rw_224 coatnext_nano_rw_224 convnext_zepto_rms
        convnext_zepto_rms_ols cs3darknet_focus_s deepseek_vit_412m deepseek_vit_412m_align
        deepseek_vit_412m_enc efficientnet_b1_pruned efficientnet_b2_pruned efficientnet_b3_pruned
        ese_vovnet57b flexivit_base flexivit_large flexivit_small gmlp_b16_224 gmlp_s16_224
        gmlp_ti16_224 haloregnetz_b inception_resnet_v2 inception_v4 legacy_xception
        maxvit_base_tf_384 maxvit_base_tf_512 maxvit_large_tf_384 maxvit_large_tf_512
        maxvit_nano_rw_256 maxvit_pico_rw_256 maxvit_rmlp_base_rw_224 maxvit_rmlp_base_rw_384
        maxvit_rmlp_nano_rw_256 maxvit_rmlp_pico_rw_256 maxvit_rmlp_small_rw_224
        maxvit_rmlp_small_rw_256 maxvit_rmlp_tiny_rw_256 maxvit_small_tf_384 maxvit_small_tf_512
        maxvit_tiny_pm_256 maxvit_tiny_rw_224 maxvit_tiny_rw_256 maxvit_tiny_tf_384
        maxvit_tiny_tf_512 maxvit_xlarge_tf_224 maxvit_xlarge_tf_384 maxvit_xlarge_tf_512
        maxxvit_rmlp_nano_rw_256 maxxvit_rmlp_small_rw_256 maxxvit_rmlp_tiny_rw_256
        maxxvitv2_nano_rw_256 maxxvitv2_rmlp_base_rw_224 maxxvitv2_rmlp_base_rw_384
        maxxvitv2_rmlp_large_rw_224 mixer_b32_224 mixer_l16_224 mixer_l32_224 mixer_s16_224
        mixer_s32_224 mobilenet_edgetpu_v2_m mobilenetv1_100 mobilenetv1_100h mobilenetv1_125
        mobilenetv3_large_150d mobilenetv4_conv_small_035 mobilenetv4_conv_small_050
        mobilenetv5_base naflexvit_base_patch16_gap naflexvit_base_patch16_map
        naflexvit_base_patch16_par_gap naflexvit_base_patch16_parfac_gap
        naflexvit_base_patch16_siglip naflexvit_so150m2_patch16_reg1_gap
        naflexvit_so150m2_patch16_reg1_map naflexvit_so400m_patch16_siglip nasnetalarge
        pnasnet5large qwen3_vit_306m qwen3_vit_306m_enc qwen3_vit_306m_merge qwen3_vit_416m
        qwen3_vit_416m_enc qwen3_vit_416m_merge qwen3_vit_88m qwen3_vit_88m_enc qwen3_vit_88m_merge
        regnetz_b16 regnetz_b16_evos regnetz_c16 regnetz_c16_evos regnetz_d32 regnetz_d8
        regnetz_d8_evos regnetz_e8 resnetv2_101 resnetv2_101d resnetv2_101x1_bit resnetv2_101x3_bit
        resnetv2_152 resnetv2_152d resnetv2_152x2_bit resnetv2_152x4_bit resnetv2_18 resnetv2_18d
        resnetv2_34 resnetv2_34d resnetv2_50 resnetv2_50d resnetv2_50d_evos resnetv2_50d_frn
        resnetv2_50d_gn resnetv2_50t resnetv2_50x1_bit resnetv2_50x3_bit test_coatnet test_convnext
        test_convnext2 test_convnext3 test_efficientnet_evos test_efficientnet_gn test_maxvit
        test_nfnet test_resnet test_vit test_vit2 test_vit3 test_vit4 test_vit_relpos
        tf_efficientnet_cc_b0_4e tf_efficientnet_cc_b0_8e tf_efficientnet_cc_b1_8e
        tf_efficientnet_el tf_efficientnet_em tf_efficientnet_es tf_efficientnet_lite0
        tf_efficientnet_lite1 tf_efficientnet_lite2 tf_efficientnet_lite3 tf_efficientnet_lite4
        tf_efficientnetv2_l tf_efficientnetv2_m tf_efficientnetv2_s tf_efficientnetv2_xl
        tf_mobilenetv3_large_075 tf_mobilenetv3_large_100 tf_mobilenetv3_large_minimal_100
        tf_mobilenetv3_small_075 tf_mobilenetv3_small_100 tf_mobilenetv3_small_minimal_100
        tnt_b_patch16_224 tnt_s_legacy_patch16_224 tnt_s_patch16_224 vit_base_patch16_18x2_224
        vit_base_patch16_384 vit_base_patch16_gap_224 vit_base_patch16_plus_240
        vit_base_patch16_reg4_gap_256 vit_base_patch16_rope_reg1_gap_256 vit_base_patch16_rpn_224
        vit_base_patch16_siglip_224 vit_base_patch16_siglip_256 vit_base_patch16_siglip_384
        vit_base_patch16_siglip_512 vit_base_patch16_siglip_gap_224 vit_base_patch16_siglip_gap_256
        vit_base_patch16_siglip_gap_384 vit_base_patch16_siglip_gap_512 vit_base_patch16_xp_224
        vit_base_patch32_224 vit_base_patch32_384 vit_base_patch32_plus_256
        vit_base_patch32_siglip_256 vit_base_patch32_siglip_gap_256 vit_base_r26_s32_224
        vit_base_r50_s16_224 vit_base_r50_s16_384 vit_betwixt_patch16_gap_256
        vit_betwixt_patch16_reg1_gap_256 vit_betwixt_patch16_reg4_gap_256
        vit_betwixt_patch16_reg4_gap_384 vit_dlittle_patch16_reg1_gap_256
        vit_dpwee_patch16_reg1_gap_256 vit_dwee_patch16_reg1_gap_256 vit_giant_patch14_224
        vit_giantopt_patch16_siglip_256 vit_giantopt_patch16_siglip_384
        vit_giantopt_patch16_siglip_gap_256 vit_giantopt_patch16_siglip_gap_384
        vit_gigantic_patch14_224 vit_huge_patch14_xp_224 vit_large_patch14_224
        vit_large_patch14_xp_224 vit_large_patch16_384 vit_large_patch16_siglip_256
        vit_large_patch16_siglip_384 vit_large_patch16_siglip_512 vit_large_patch16_siglip_gap_256
        vit_large_patch16_siglip_gap_384 vit_large_patch16_siglip_gap_512 vit_large_patch32_224
        vit_large_patch32_384 vit_large_r50_s32_224 vit_large_r50_s32_384
        vit_little_patch16_reg1_gap_256 vit_little_patch16_reg4_gap_256 vit_medium_patch16_gap_240
        vit_medium_patch16_gap_256 vit_medium_patch16_gap_384 vit_medium_patch16_reg1_gap_256
        vit_medium_patch16_reg4_gap_256 vit_medium_patch16_rope_reg1_gap_256
        vit_mediumd_patch16_reg4_gap_256 vit_mediumd_patch16_reg4_gap_384
        vit_mediumd_patch16_rope_reg1_gap_256 vit_pe_core_base_patch16_224
        vit_pe_core_gigantic_patch14_448 vit_pe_core_large_patch14_336 vit_pe_core_small_patch16_384
        vit_pe_core_tiny_patch16_384 vit_pe_lang_gigantic_patch14_448 vit_pe_lang_large_patch14_448
        vit_pe_spatial_base_patch16_512 vit_pe_spatial_gigantic_patch14_448
        vit_pe_spatial_large_patch14_448 vit_pe_spatial_small_patch16_512
        vit_pe_spatial_tiny_patch16_512 vit_pwee_patch16_reg1_gap_256 vit_relpos_base_patch16_224
        vit_relpos_base_patch16_cls_224 vit_relpos_base_patch16_clsgap_224
        vit_relpos_base_patch16_plus_240 vit_relpos_base_patch16_rpn_224
        vit_relpos_base_patch32_plus_rpn_256 vit_relpos_medium_patch16_224
        vit_relpos_medium_patch16_cls_224 vit_relpos_medium_patch16_rpn_224
        vit_relpos_small_patch16_224 vit_relpos_small_patch16_rpn_224 vit_small_patch16_18x2_224
        vit_small_patch16_36x1_224 vit_small_patch16_384 vit_small_patch32_224 vit_small_patch32_384
        vit_small_r26_s32_224 vit_small_r26_s32_384 vit_so150m2_patch16_reg1_gap_256
        vit_so150m2_patch16_reg1_gap_384 vit_so150m2_patch16_reg1_gap_448
        vit_so150m_patch16_reg4_gap_256 vit_so150m_patch16_reg4_gap_384
        vit_so150m_patch16_reg4_map_256 vit_so400m_patch14_siglip_224 vit_so400m_patch14_siglip_378
        vit_so400m_patch14_siglip_384 vit_so400m_patch14_siglip_gap_224
        vit_so400m_patch14_siglip_gap_378 vit_so400m_patch14_siglip_gap_384
        vit_so400m_patch14_siglip_gap_448 vit_so400m_patch14_siglip_gap_896
        vit_so400m_patch16_siglip_256 vit_so400m_patch16_siglip_384 vit_so400m_patch16_siglip_512
        vit_so400m_patch16_siglip_gap_256 vit_so400m_patch16_siglip_gap_384
        vit_so400m_patch16_siglip_gap_512 vit_srelpos_medium_patch16_224
        vit_srelpos_small_patch16_224 vit_tiny_patch16_224 vit_tiny_patch16_384
        vit_tiny_r_s16_p8_224 vit_tiny_r_s16_p8_384 vit_wee_patch16_reg1_gap_256 xception41
        xception41p xception65 xception65p xception71
        """.split()
    ),
    "dpn": frozenset(
        """
        dpn107 dpn131 dpn68 dpn92 dpn98
        """.split()
    ),
    "identity": frozenset(
        """
        fastvit_mci0 fastvit_mci1 fastvit_mci2 gemma4_vit_167m gemma4_vit_167m_enc gemma4_vit_570m
        gemma4_vit_570m_enc mobilenetv5_300m mobilenetv5_300m_enc mobilevit_s mobilevit_xs
        mobilevit_xxs mobilevitv2_050 mobilevitv2_075 mobilevitv2_100 mobilevitv2_125
        mobilevitv2_150 mobilevitv2_175 mobilevitv2_200 tresnet_l tresnet_m tresnet_v2_l tresnet_xl
        vit_base_mci_224 vit_base_patch14_reg1_tipsv2 vit_base_patch16_224_miil
        vit_giant_patch14_reg1_tipsv2 vit_large_patch14_reg1_tipsv2 vit_so400m_patch14_reg1_tipsv2
        """.split()
    ),
}
# timm `architecture.tag` names of architectures whose tags disagree
TIMM_TAGS: Dict[str, FrozenSet[str]] = {
    "imagenet": frozenset(
        """
        convnext_base.dinov3_lvd1689m convnext_base.eupe_lvd1689m convnext_base.fb_in1k
        convnext_base.fb_in22k convnext_base.fb_in22k_ft_in1k convnext_base.fb_in22k_ft_in1k_384
        dpn68b.ra_in1k efficientnet_b0.ra_in1k efficientnet_b1.ft_in1k
        eva_giant_patch14_336.m30m_ft_in22k_in1k inception_v3.gluon_in1k maxvit_base_tf_224.in1k
        maxvit_large_tf_224.in1k mobilenetv3_large_100.ra_in1k
        mobilenetv4_conv_small.e1200_r224_in1k mobilenetv4_conv_small.e2400_r224_in1k
        resnet18d.ra2_in1k resnet34.a1_in1k resnet34.a2_in1k resnet34.a3_in1k resnet34.bt_in1k
        resnet34.gluon_in1k resnet34.tv_in1k resnet50d.a1_in1k resnet50d.a2_in1k resnet50d.a3_in1k
        resnet50d.gluon_in1k resnet50d.ra2_in1k tf_efficientnet_b0.aa_in1k tf_efficientnet_b0.in1k
        tf_efficientnet_b0.ns_jft_in1k tf_efficientnet_b1.aa_in1k tf_efficientnet_b1.in1k
        tf_efficientnet_b1.ns_jft_in1k tf_efficientnet_b2.aa_in1k tf_efficientnet_b2.in1k
        tf_efficientnet_b2.ns_jft_in1k tf_efficientnet_b3.aa_in1k tf_efficientnet_b3.in1k
        tf_efficientnet_b3.ns_jft_in1k tf_efficientnet_b4.aa_in1k tf_efficientnet_b4.in1k
        tf_efficientnet_b4.ns_jft_in1k tf_efficientnet_b5.aa_in1k tf_efficientnet_b5.in1k
        tf_efficientnet_b5.ns_jft_in1k tf_efficientnet_b5.ra_in1k tf_efficientnet_b6.aa_in1k
        tf_efficientnet_b6.ns_jft_in1k tf_efficientnet_b7.aa_in1k tf_efficientnet_b7.ns_jft_in1k
        tf_efficientnet_b7.ra_in1k tf_efficientnet_b8.ra_in1k tf_efficientnetv2_b3.in1k
        vit_7b_patch16_dinov3.lvd1689m vit_base_patch16_224.dino vit_base_patch16_224.mae
        vit_base_patch8_224.dino vit_huge_patch14_224.mae vit_large_patch16_224.mae
        vit_large_patch16_dinov3.lvd1689m vit_large_patch16_dinov3_qkvb.lvd1689m
        vit_small_patch16_224.dino
        """.split()
    ),
    "openai_clip": frozenset(
        """
        convnext_base.clip_laion2b convnext_base.clip_laion2b_augreg
        convnext_base.clip_laion2b_augreg_ft_in12k convnext_base.clip_laion2b_augreg_ft_in12k_in1k
        convnext_base.clip_laion2b_augreg_ft_in12k_in1k_384
        convnext_base.clip_laion2b_augreg_ft_in1k convnext_base.clip_laiona
        convnext_base.clip_laiona_320 convnext_base.clip_laiona_augreg_320
        convnext_base.clip_laiona_augreg_ft_in1k_384 eva_giant_patch14_336.clip_ft_in1k
        vit_base_patch16_224.bamboo vit_large_patch14_clip_224.apple_mclip2_dfndr2b
        vit_large_patch14_clip_224.datacompxl vit_large_patch14_clip_224.dfn2b
        vit_large_patch14_clip_224.dfn2b_s39b vit_large_patch14_clip_224.laion400m_e32
        vit_large_patch14_clip_224.metaclip_2pt5b vit_large_patch14_clip_224.metaclip_400m
        vit_large_patch14_clip_224.openai vit_large_patch14_clip_224.openai_ft_in12k
        vit_large_patch14_clip_224.openai_ft_in12k_in1k vit_large_patch14_clip_224.openai_ft_in1k
        vit_large_patch14_clip_336.openai vit_large_patch14_clip_336.openai_ft_in12k_in1k
        """.split()
    ),
    "dpn": frozenset(
        """
        dpn68b.mx_in1k
        """.split()
    ),
    "half": frozenset(
        """
        efficientnet_b0.ra4_e3600_r224_in1k efficientnet_b1.ra4_e3600_r240_in1k
        inception_v3.tf_adv_in1k inception_v3.tf_in1k inception_v3.tv_in1k maxvit_base_tf_224.in21k
        maxvit_large_tf_224.in21k mixer_b16_224.goog_in21k mixer_b16_224.goog_in21k_ft_in1k
        mobilenetv3_large_100.ra4_e3600_r224_in1k mobilenetv4_conv_small.e3600_r256_in1k
        resnet18d.ra4_e3600_r224_in1k resnet34.ra4_e3600_r224_in1k resnet50d.ra4_e3600_r224_in1k
        tf_efficientnet_b0.ap_in1k tf_efficientnet_b1.ap_in1k tf_efficientnet_b2.ap_in1k
        tf_efficientnet_b3.ap_in1k tf_efficientnet_b4.ap_in1k tf_efficientnet_b5.ap_in1k
        tf_efficientnet_b6.ap_in1k tf_efficientnet_b7.ap_in1k tf_efficientnet_b8.ap_in1k
        tf_efficientnetv2_b3.in21k tf_efficientnetv2_b3.in21k_ft_in1k
        vit_base_patch16_224.augreg2_in21k_ft_in1k vit_base_patch16_224.augreg_in1k
        vit_base_patch16_224.augreg_in21k vit_base_patch16_224.augreg_in21k_ft_in1k
        vit_base_patch16_224.orig_in21k vit_base_patch16_224.orig_in21k_ft_in1k
        vit_base_patch16_224.sam_in1k vit_base_patch8_224.augreg2_in21k_ft_in1k
        vit_base_patch8_224.augreg_in21k vit_base_patch8_224.augreg_in21k_ft_in1k
        vit_huge_patch14_224.orig_in21k vit_huge_patch14_224.untrained
        vit_large_patch14_clip_224.laion2b vit_large_patch14_clip_224.laion2b_ft_in12k
        vit_large_patch14_clip_224.laion2b_ft_in12k_in1k vit_large_patch14_clip_224.laion2b_ft_in1k
        vit_large_patch14_clip_336.laion2b_ft_in12k_in1k vit_large_patch14_clip_336.laion2b_ft_in1k
        vit_large_patch16_224.augreg_in21k vit_large_patch16_224.augreg_in21k_ft_in1k
        vit_large_patch16_224.orig_in21k vit_small_patch16_224.augreg_in1k
        vit_small_patch16_224.augreg_in21k vit_small_patch16_224.augreg_in21k_ft_in1k
        """.split()
    ),
    "identity": frozenset(
        """
        mixer_b16_224.miil_in21k mixer_b16_224.miil_in21k_ft_in1k mobilenetv3_large_100.miil_in21k
        mobilenetv3_large_100.miil_in21k_ft_in1k
        """.split()
    ),
}

# Hugging Face checkpoint families (repository prefixes) whose image processors all normalize
# with the same statistics.
HF_CHECKPOINTS: Dict[str, str] = {
    "google/vit-": "half",
    "google/siglip-": "half",
    "google/siglip2-": "half",
    "microsoft/beit-": "half",
    "openai/clip-vit-": "openai_clip",
    "microsoft/resnet-": "imagenet",
    "facebook/convnext-": "imagenet",
    "facebook/convnextv2-": "imagenet",
    "facebook/deit-": "imagenet",
    "microsoft/swin-": "imagenet",
    "microsoft/swinv2-": "imagenet",
    "facebook/dinov2-": "imagenet",
    "nvidia/mit-b": "imagenet",
    "nvidia/segformer-": "imagenet",
}
# Hugging Face model classes that take images (`pixel_values`) and expect normalized input.
HF_IMAGE_CLASS_WORDS: Tuple[str, ...] = (
    "ForImageClassification", "ForSemanticSegmentation", "VisionModel", "ForMaskedImageModeling",
)
HF_IMAGE_CLASSES: FrozenSet[str] = frozenset(
    """
    ViTModel DeiTModel BeitModel ConvNextModel ConvNextV2Model ResNetModel SwinModel Swinv2Model Dinov2Model
    CLIPModel SiglipModel SegformerModel RegNetModel EfficientNetModel ViTMAEModel Data2VecVisionModel
    CLIPVisionModelWithProjection
    """.split()
)
# checkpoint-name prefixes that make an `AutoModel`/`AutoModelForX` a vision model
HF_VISION_PREFIXES: Tuple[str, ...] = tuple(HF_CHECKPOINTS) + ("timm/",)

# OpenAI's `clip.load(name)` models; open_clip architectures trained by OpenAI or on LAION with
# OpenAI's statistics.
CLIP_STATISTICS = "openai_clip"
OPEN_CLIP_ARCHITECTURES: FrozenSet[str] = frozenset(
    """
    RN50 RN101 RN50x4 RN50x16 RN50x64 ViT-B-32 ViT-B-16 ViT-L-14 ViT-L-14-336 ViT-H-14 ViT-g-14 ViT-bigG-14
    ViT-B-32-quickgelu ViT-B-16-quickgelu ViT-L-14-quickgelu
    """.split()
)
OPEN_CLIP_TAG_PREFIXES: Tuple[str, ...] = ("openai", "laion400m", "laion2b")

# segmentation_models_pytorch encoders whose "imagenet" weights use the ImageNet statistics.
SMP_IMAGENET_ENCODERS: FrozenSet[str] = frozenset(
    """
    resnet18 resnet34 resnet50 resnet101 resnet152 resnext50_32x4d resnext101_32x4d resnext101_32x8d
    mobilenet_v2 vgg11 vgg11_bn vgg13 vgg13_bn vgg16 vgg16_bn vgg19 vgg19_bn densenet121 densenet169 densenet201
    densenet161 efficientnet-b0 efficientnet-b1 efficientnet-b2 efficientnet-b3 efficientnet-b4 efficientnet-b5
    efficientnet-b6 efficientnet-b7
    """.split()
)

# Library constants that hold statistics (mean or std of a family).
LIBRARY_CONSTANTS: Dict[str, Triple] = {
    "timm.data.IMAGENET_DEFAULT_MEAN": STATISTICS["imagenet"].mean,
    "timm.data.IMAGENET_DEFAULT_STD": STATISTICS["imagenet"].std,
    "timm.data.IMAGENET_INCEPTION_MEAN": STATISTICS["half"].mean,
    "timm.data.IMAGENET_INCEPTION_STD": STATISTICS["half"].std,
    "timm.data.OPENAI_CLIP_MEAN": STATISTICS["openai_clip"].mean,
    "timm.data.OPENAI_CLIP_STD": STATISTICS["openai_clip"].std,
    "timm.data.IMAGENET_DPN_MEAN": STATISTICS["dpn"].mean,
    "timm.data.IMAGENET_DPN_STD": (0.2346, 0.2346, 0.2346),
    "transformers.image_utils.IMAGENET_DEFAULT_MEAN": STATISTICS["imagenet"].mean,
    "transformers.image_utils.IMAGENET_DEFAULT_STD": STATISTICS["imagenet"].std,
    "transformers.image_utils.IMAGENET_STANDARD_MEAN": STATISTICS["half"].mean,
    "transformers.image_utils.IMAGENET_STANDARD_STD": STATISTICS["half"].std,
    "transformers.image_utils.OPENAI_CLIP_MEAN": STATISTICS["openai_clip"].mean,
    "transformers.image_utils.OPENAI_CLIP_STD": STATISTICS["openai_clip"].std,
    "open_clip.OPENAI_DATASET_MEAN": STATISTICS["openai_clip"].mean,
    "open_clip.OPENAI_DATASET_STD": STATISTICS["openai_clip"].std,
    "open_clip.constants.OPENAI_DATASET_MEAN": STATISTICS["openai_clip"].mean,
    "open_clip.constants.OPENAI_DATASET_STD": STATISTICS["openai_clip"].std,
}
for _name in list(LIBRARY_CONSTANTS):
    if _name.startswith("timm.data."):
        LIBRARY_CONSTANTS["timm.data.constants." + _name[len("timm.data."):]] = LIBRARY_CONSTANTS[_name]


def timm_statistics(name: str) -> Optional[Statistics]:
    """The statistics of a timm model name (`resnet50`, `vit_base_patch16_224.augreg_in21k`,
    `hf-hub:timm/convnext_tiny.fb_in1k`), or None when they are not certain."""
    for prefix in ("hf-hub:timm/", "hf_hub:timm/", "timm/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    architecture, _, tag = name.partition(".")
    for family, names in TIMM_ARCHITECTURES.items():
        if architecture in names:
            return STATISTICS[family]
    if tag:
        for family, names in TIMM_TAGS.items():
            if name in names:
                return STATISTICS[family]
    return None


def timm_known(name: str) -> bool:
    """Whether timm (1.0.31) has pretrained weights under this architecture name at all."""
    architecture = name.split("/")[-1].partition(".")[0]
    return any(architecture in names for names in TIMM_ARCHITECTURES.values()) or any(
        any(full.partition(".")[0] == architecture for full in names) for names in TIMM_TAGS.values()
    )


def close(values: Triple, expected: Triple, tolerance: float = 0.01) -> bool:
    """Equal up to rounding (0.485 vs 0.48 is, 0.5 vs 0.485 is not)."""
    return all(abs(a - b) <= tolerance for a, b in zip(values, expected))
