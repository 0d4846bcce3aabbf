"""twin/studies"""
