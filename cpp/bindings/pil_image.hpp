// PIL images read in place: the rows of Pillow's own storage, without numpy's copy.
#pragma once

#include <pybind11/pybind11.h>

#include <list>
#include <optional>

#include "fastort/image.hpp"

namespace fastort::bindings {

// A real PIL image: an instance of PIL.Image.Image (only where Pillow is imported already;
// nobody can hold one otherwise).
bool is_pil_image(pybind11::handle value);

// A PIL image of mode L, RGB, RGBA or RGBX read in place through the Arrow C data interface
// (Pillow >= 11.2): its own storage, 1 or 4 bytes per pixel (RGB is stored as RGBX, the 4th
// byte dropped like alpha). Pillow exports only images stored in one block (16 MiB by
// default); the rows of larger ones are read through their row pointers. nullopt where
// neither works (an older Pillow, another mode); the caller then copies the image. `keep`
// holds what the view reads until the transform is done.
std::optional<ImageView> pil_view(pybind11::handle value, std::list<pybind11::object>& keep);

}  // namespace fastort::bindings
