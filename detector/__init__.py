"""detector: the near-duplicate detector (model, augmentations, training, descriptors, metrics).

Modules: `config` (DetectorConfig, TrunkConfig), `model` (Detector, build_detector), `trunk` and
`layers` (ResNet trunks, blur pooling, GeM), `augment` (augmentations, benchmark families,
TrainAugment), `losses` (InfoNCE, entropy regulariser), `distributed` (all-gather with gradients),
`metrics` (ISC µAP, recall@P90, acc@1), `checkpoint` (save/load, default weights, `--detector`
specs), `sscd_loading` (SSCD torchvision files), `hash_baselines` (imagehash), `pairs` and `train`
(training), `embed` (descriptor extraction), `evaluate` (detector eval), `copy_benchmark`.
"""
