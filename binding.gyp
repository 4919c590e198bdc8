# node-gyp build of the addon, for hosts without CMake: CPU backend only (no CUDA), same sources as
# CMakeLists.txt's QH_CPU_SOURCES + QH_CUDA_STUB_SOURCES, into build/Release/qwen_hybrid.node.
# Run through scripts/build-native.mjs (QWEN_HYBRID_BUILDER=gyp forces it).
{
  'targets': [
    {
      'target_name': 'qwen_hybrid',
      'sources': [
        'native/addon/addon.cc',
        'native/core/build_info.cc',
        'native/core/dtype.cc',
        'native/core/cpu_features.cc',
        'native/cpu/cpu_backend.cc',
        'native/cuda/cuda_stub.cc',
      ],
      'include_dirs': [
        "<!(node -p \"require('node-addon-api').include_dir\")",
      ],
      'defines': [
        'NAPI_VERSION=8',
        'NAPI_DISABLE_CPP_EXCEPTIONS',
        'QWEN_HYBRID_BUILDER="node-gyp"',
        "QWEN_HYBRID_VERSION=\"<!(node -p \"require('./package.json').version\")\"",
      ],
      'cflags': ['-fvisibility=hidden', '-Wall', '-Wextra'],
      'cflags_cc': ['-std=c++17', '-fno-exceptions'],
      'xcode_settings': {
        'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
        'GCC_ENABLE_CPP_EXCEPTIONS': 'NO',
        'GCC_SYMBOLS_PRIVATE_EXTERN': 'YES',
      },
      'msvs_settings': {
        'VCCLCompilerTool': { 'ExceptionHandling': 0, 'AdditionalOptions': ['/std:c++17'] },
      },
    },
  ],
}
