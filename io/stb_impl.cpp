// The one translation unit that compiles the stb_image (decoder, PNG only)
// and stb_image_write implementations; every other file includes the
// headers for their declarations only.
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#include <stb/stb_image.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
